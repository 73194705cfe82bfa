# One image for web (gunicorn), Celery worker and Celery beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var

# gettext: compilemessages (msgfmt) for the Chinese translation
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are served by the app itself (whitenoise, no CDN); translations compiled into the image.
RUN DJANGO_SETTINGS_MODULE=config.settings.production SECRET_KEY=build-only ALLOWED_HOSTS=localhost \
        DATABASE_URL=postgres://build@localhost/build CELERY_BROKER_URL=redis://localhost/0 \
        python manage.py collectstatic --noinput -v0 \
    && if [ -d locale ]; then python manage.py compilemessages --ignore=var -v0; fi \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /app/var && chown -R app /app/var

USER app
EXPOSE 8000
ENV DJANGO_SETTINGS_MODULE=config.settings.production
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
