"""Settings for the test suite: the real settings over a throwaway home folder, with a test-only secret key."""
import atexit
import os
import shutil
import tempfile

# Set before rnnservice.settings reads them. A fresh home keeps the tests off a developer's database, uploads
# and broker folders (a local worker would take the tests' messages). DATABASE_URL and CELERY_BROKER_URL, when
# set, still point the tests at PostgreSQL and Redis. The worker in test_worker.py inherits all of this.
_home = tempfile.mkdtemp(prefix="rnnservice-tests-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ.update(RNNSERVICE_HOME=_home, MEDIA_ROOT=os.path.join(_home, "media"),
                  MODELS_STORE=os.path.join(_home, "models_store"))
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-not-for-any-deployment")
# No test is throttled by accident (the fuzzing in test_schema_fuzz.py sends hundreds of requests): the throttle
# tests in tests/test_throttling.py set low rates themselves.
os.environ.update(RNNSERVICE_THROTTLE_TOKEN="off", RNNSERVICE_THROTTLE_PREDICT="off")
# Tiny test jobs run many epochs a second: the tests watch each epoch's row (and cancel between epochs), so
# the rows are written after every epoch; tests/training/test_services.py shows the default's limit.
os.environ.setdefault("TRAINING_PROGRESS_SECONDS", "0")

from rnnservice.settings import *  # noqa: E402,F403
from rnnservice.settings import DATABASES, STATIC_ROOT, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]     # fast; the tests make many users
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file rather than Django's in-memory test database, so that a worker process can open it too.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_home, "test.sqlite3")}

# No collectstatic before the tests: the admin's pages name their static files as they are, not through the
# manifest of hashed names; and WhiteNoise finds the folder it expects (else it warns in every test).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# In-process tests see a revoked token or a promotion at once; tests/faults/test_lookup_freshness.py runs servers
# with the production second.
SERVING_LOOKUP_SECONDS = 0
