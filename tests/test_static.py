"""The static files as production serves them: `collectstatic` with WhiteNoise's manifest storage (the Dockerfile
runs it) takes the vendored Chart.js, the admin's scripts and the API docs' Swagger UI and ReDoc."""
from __future__ import annotations

import json

from django.core.management import call_command

from rnnservice.settings import STORAGES as PRODUCTION_STORAGES


def test_it_collects_the_vendored_and_own_static_files_with_hashed_names(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = PRODUCTION_STORAGES
    call_command("collectstatic", interactive=False, verbosity=0)       # a missing reference fails here
    paths = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    for name in ("vendor/chartjs/chart.umd.min.js", "rnnservice/charts.js", "rnnservice/tryit.js",
                 "rnnservice/admin.css", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
                 "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"):
        assert name in paths, name
        assert (tmp_path / "static" / paths[name]).is_file()
