"""Training jobs: launch, run on a Celery worker with checkpoints and a heartbeat, cancel, register the version."""
