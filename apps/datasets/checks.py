"""System checks for configuration the datasets app cannot work with."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_media_root(app_configs, **kwargs) -> list[Error]:
    # Two aligned translation files reach the core's parser as one "source,target" path.
    if "," in str(settings.MEDIA_ROOT):
        return [Error(f"MEDIA_ROOT {settings.MEDIA_ROOT} contains a comma",
                      hint="Aligned translation files are read as 'source,target'; choose a folder without commas.",
                      id="datasets.E001")]
    return []
