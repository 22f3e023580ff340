"""The Django apps of rnnservice: datasets (upload, validate, statistics), registry (models, versions, aliases,
artifacts), training (jobs on Celery workers), serving (predictions) and local (`manage.py run_local`)."""
