"""App configuration of the training app."""
from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from apps.training import checks  # noqa: F401  (registers the system checks)
