"""Routes of the training-jobs API, mounted at /api/training-jobs/."""
from django.urls import path

from apps.training.views import JobCancelApi, JobDetailApi, JobListApi

app_name = "training"
urlpatterns = [
    path("", JobListApi.as_view(), name="list"),
    path("<int:pk>/", JobDetailApi.as_view(), name="detail"),
    path("<int:pk>/cancel/", JobCancelApi.as_view(), name="cancel"),
]
