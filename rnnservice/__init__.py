"""The rnnservice Django project. Kept empty on purpose: `rnnservice.ml` lives below it and must import
nothing of Django or Celery. The Celery app is loaded by `rnnservice.apps` when Django starts, and by
`celery -A rnnservice.celery` in a worker."""
