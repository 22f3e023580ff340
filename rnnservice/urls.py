"""URL routes: the admin, the REST API under /api/, its OpenAPI schema and docs, and the health probes."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from rnnservice import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/token/", obtain_auth_token, name="token"),
    path("api/datasets/", include("apps.datasets.urls")),
    path("api/training-jobs/", include("apps.training.urls")),
    path("api/models/", include("apps.registry.urls")),
    path("api/models/", include("apps.serving.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
