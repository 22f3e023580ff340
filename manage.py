#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys

# What to set for each setting that a missing or bad environment variable leaves unusable: a few lines, not a
# traceback through Django's settings loader.
HINTS = {
    "DJANGO_SECRET_KEY": (
        "  On this machine, for development:  export DJANGO_DEBUG=true   (a built-in key; `make run` sets it)\n"
        "  In a deployment:                   export DJANGO_SECRET_KEY=\"$(python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))')\"\n"),
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rnnservice.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018  (loads the settings, which check the environment)
    except ImproperlyConfigured as exc:
        hint = next((text for name, text in HINTS.items() if name in str(exc)),
                    "  Set it in the environment; README.md, \"Configuration\", lists every setting.\n")
        sys.stderr.write(f"manage.py: the configuration is not usable: {exc}\n{hint}")
        sys.exit(2)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
