"""URL routes: the admin, the REST API under /api/, its OpenAPI schema and docs, the health probes and the
Prometheus metrics."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from rnnservice import health, prometheus
from rnnservice.logins import TokenApi, admin_login

urlpatterns = [
    path("admin/login/", admin_login, name="admin-login"),        # before the admin's own: rate-limited
    path("admin/", admin.site.urls),
    path("api/auth/token/", TokenApi.as_view(), name="token"),
    path("api/datasets/", include("apps.datasets.urls")),
    path("api/training-jobs/", include("apps.training.urls")),
    path("api/models/", include("apps.registry.urls")),
    path("api/models/", include("apps.serving.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", prometheus.metrics_view, name="metrics"),
]
# Under /api/, errors that no view answers (no route, a body too large, a bug) are JSON like the others.
handler400 = "rnnservice.api.bad_request"
handler404 = "rnnservice.api.not_found"
handler500 = "rnnservice.api.server_error"
