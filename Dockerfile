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
# Static files are served by the app itself (whitenoise, no CDN; hashed names, cached for a year); translations
# compiled into the image. `export`: the build-only settings hold for every command of the step (a `VAR=… cmd`
# prefix would hold for the first one only), and stay out of the image's runtime environment.
# `make prod-smoke` runs this step as written, from this file, in a copy of the checkout.
RUN export DJANGO_SETTINGS_MODULE=config.settings.production SECRET_KEY=build-only ALLOWED_HOSTS=localhost \
        DATABASE_URL=postgres://build@localhost/build CELERY_BROKER_URL=redis://localhost/0 \
    && python manage.py collectstatic --noinput -v0 \
    && if [ -d locale ]; then python manage.py compilemessages --ignore=var -v0; fi

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app/var && chown -R app /app/var

USER app
EXPOSE 8000
ENV DJANGO_SETTINGS_MODULE=config.settings.production
# The same command as compose's web: config/gunicorn.py sets the bind, worker count and timeouts.
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi", "--access-logfile", "-"]
