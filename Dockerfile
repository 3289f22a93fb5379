# The shop's image: one image for every process (web, bot, worker, beat, release);
# compose.yaml and the Procfile say which command each one runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 10001 shop \
    && mkdir -p /app/staticfiles /metrics \
    && chown shop:shop /app /app/staticfiles /metrics

# The hashed lock: every package pinned, every download checked.
COPY requirements.txt .
RUN pip install --require-hashes --no-deps -r requirements.txt

COPY --chown=shop:shop . .
USER shop

# Static files are part of the image (whitenoise serves them, hashed and compressed). collectstatic
# needs settings that load: a key for this build step only, never the one the shop runs with.
RUN DJANGO_SECRET_KEY=build-step-only-collectstatic-key-never-used-at-run-time-0000 \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --no-input --verbosity 0

EXPOSE 8000
# The Procfile's web command; the release step (`python manage.py release`) runs before it on each deploy.
CMD gunicorn config.wsgi --config config/gunicorn.py --bind 0.0.0.0:$PORT
