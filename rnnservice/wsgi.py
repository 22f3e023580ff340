"""WSGI entry point for WSGI servers; rnnservice/server.py serves it through granian (rnnservice/rsgi.py)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rnnservice.settings")

application = get_wsgi_application()
