"""Routes of the datasets API, mounted at /api/datasets/."""
from django.urls import path

from apps.datasets.views import DatasetDetailApi, DatasetListApi

app_name = "datasets"
urlpatterns = [
    path("", DatasetListApi.as_view(), name="list"),
    path("<int:pk>/", DatasetDetailApi.as_view(), name="detail"),
]
