# The CPU image: the web server (granian), the CPU worker (queue `default`) and celery beat run from it.
#   docker build -t rnnservice .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a change to the code reuses this layer. torch from PyTorch's CPU index: the
# same version as requirements.txt pins, without the CUDA libraries (gigabytes) a CPU machine has no use for.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.txt

COPY . .

# All local state under one folder (settings.py); MEDIA_ROOT and MODELS_STORE are volumes in docker-compose.yml.
ENV DJANGO_SETTINGS_MODULE=rnnservice.settings \
    RNNSERVICE_HOME=/var/lib/rnnservice \
    MEDIA_ROOT=/var/lib/rnnservice/media \
    MODELS_STORE=/var/lib/rnnservice/models_store \
    STATIC_ROOT=/app/staticfiles

# The admin's and the API docs' static files, with hashed names, for WhiteNoise. The key only lets the settings
# load here; the containers get theirs from the environment.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

# Not root. The data folders exist in the image, owned by that user, so that new named volumes mounted on them
# start with that owner.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/rnnservice --no-create-home rnnservice \
 && mkdir -p /var/lib/rnnservice/media /var/lib/rnnservice/models_store \
 && chown -R rnnservice:rnnservice /var/lib/rnnservice
USER rnnservice

EXPOSE 8000
# The web server (granian, rnnservice/server.py) on every interface of the container.
ENV WEB_HOST=0.0.0.0
CMD ["python", "-m", "rnnservice.server"]
