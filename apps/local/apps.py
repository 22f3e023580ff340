"""App configuration of the local app: the one-command local start (`manage.py run_local`) and its demo data."""
from django.apps import AppConfig


class LocalConfig(AppConfig):
    name = "apps.local"
    label = "local"
    verbose_name = "Local start"
