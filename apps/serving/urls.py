"""Routes of the serving API, mounted beside the registry's at /api/models/."""
from django.urls import path

from apps.serving.views import EvaluateApi, PredictApi

app_name = "serving"
urlpatterns = [
    path("<slug:name>/predict/", PredictApi.as_view(), name="predict"),
    path("<slug:name>/evaluate/", EvaluateApi.as_view(), name="evaluate"),
]
