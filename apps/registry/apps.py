"""App configuration of the registry app."""
from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "apps.registry"
    label = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from apps.registry.readiness import artifacts_report
        from rnnservice.health import register_report

        register_report("artifacts", artifacts_report)
