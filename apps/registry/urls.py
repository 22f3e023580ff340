"""Routes of the registry API, mounted at /api/models/."""
from django.urls import path

from apps.registry.views import AliasApi, ModelDetailApi, ModelListApi

app_name = "registry"
urlpatterns = [
    path("", ModelListApi.as_view(), name="list"),
    path("<slug:name>/", ModelDetailApi.as_view(), name="detail"),
    path("<slug:name>/aliases/", AliasApi.as_view(), name="aliases"),
]
