"""App configuration of the serving app."""
from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "apps.serving"
    label = "serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        from apps.serving import checks  # noqa: F401  (registers the system checks)
