"""App configuration of the datasets app."""
from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "apps.datasets"
    label = "datasets"
    verbose_name = "Data sets"

    def ready(self) -> None:
        from apps.datasets import checks  # noqa: F401  (registers the system checks)
