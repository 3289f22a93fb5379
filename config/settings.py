"""Settings, read only from the environment (django-environ).

Production is the default and fails closed: DJANGO_DEBUG is off unless set,
DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS must be given, mock payments stay
off, and `manage.py check --deploy` passes. Development (`make run`, the
tests) sets DJANGO_DEBUG=true and gets the embedded defaults: SQLite, a
development key, mock payments when no bot token is configured.
Every variable read here is listed, with a comment, in `.env.example`.
"""

import logging
import os
import re
import zoneinfo
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.logs import formatter_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Development only. Django's deploy check flags a key with this prefix (security.W009).
_DEV_SECRET = "django-insecure-dev-only-key-from-the-repository-never-use-in-production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is not true "
        "(generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is the repository's development key; set a secret one")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the shop's host(s) when DJANGO_DEBUG is not true")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# How many reverse proxies in front of the web process append to X-Forwarded-For
# (0: none, the peer address is the client). Only that many hops are trusted.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "notifications",
    "users",
    "subscriptions",
    "promos",
    "referrals",
    "campaigns",
    "payments",
    "broadcasts",
    "telegram_bot",
    "api",
    "ops",
    # Staff sign-in: failed-attempt lockout; TOTP and recovery codes (see "Staff sign-in" below).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "staff",  # after django-otp's apps: its admin takes their device pages away
]

MIDDLEWARE = [
    # Probes and metrics first: answered before the host check and the HTTPS
    # redirect (an orchestrator calls them by the container's address, over HTTP).
    "ops.middleware.OperationsMiddleware",
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files outside debug (runserver serves them in debug).
    *([] if DEBUG else ["whitenoise.middleware.WhiteNoiseMiddleware"]),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a second factor.
    "django_otp.middleware.OTPMiddleware",
    # The services learn which member of staff (and from which address) makes a change.
    "core.audit.StaffContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The admin for staff: the idle timeout, and nothing but enrolment until a required second factor is set up.
    "staff.middleware.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # One log line for every call an API key makes for a Telegram user.
    "api.audit.ApiKeyAuditMiddleware",
    # Turns a sign-in refused by the lockout into the admin's page saying how long to wait.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# Database: SQLite embedded by default; PostgreSQL via DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The bot loop and the web server write at the same time: WAL, a busy
    # timeout and IMMEDIATE transactions keep "database is locked" away from users.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = None
else:
    # Persistent connections (a new PostgreSQL connection costs a few ms per
    # request), checked before reuse so that a restarted database is survived.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

# The lockout's backend comes first: a locked account or address is refused before its password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# i18n: the bot speaks Russian by default and English to users whose
# Telegram language_code says so. The admin follows the browser's language
# (Accept-Language); a browser asking for neither gets DJANGO_LANGUAGE_CODE.
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="ru")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"DJANGO_LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}")
# Catalogs live beside the code that speaks: <app>/locale/ru/LC_MESSAGES/django.po;
# the project's own templates (templates/) have theirs in templates/locale.
LOCALE_PATHS = [BASE_DIR / "templates" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# Served by the web process itself (whitenoise). Outside debug: hashed names and
# gzip copies made by `collectstatic` (the release step), cached for a year.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# The shared cache: API throttles, the bot's flood limit. In production point it
# at Redis (CACHE_URL=redis://host:6379/1) so that every process and gunicorn
# worker counts the same hits; the default memory cache is per process.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # Django's backend, minus a client object built per call and a round trip per counter hit.
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"
    # A Redis that is down must cost a request a moment, not a worker thread.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("socket_connect_timeout", 1)
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", 1)

# Security: strict when not in DEBUG (passes `manage.py check --deploy`).
if not DEBUG:
    # The TLS-terminating proxy in front of the web process says the request was
    # HTTPS in this header (it must overwrite a client's copy); empty: no proxy.
    _proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto")
    if _proxy_ssl_header:
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TelegramMiniAppAuthentication",
        "api.authentication.ApiKeyAuthentication",
        "api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.permissions.ApiKeyScopes",  # an API key does only what its scopes allow
    ],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttles.UserThrottle",
        "api.throttles.ApiKeyThrottle",
        "api.throttles.AnonymousThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="120/min"),
        "api_key": env.str("API_THROTTLE_API_KEY", default="3000/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        # Failed API-key / init data attempts per client address (api.authentication).
        "auth_failures": env.str("API_THROTTLE_AUTH_FAILURES", default="20/min"),
    },
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
}
# Mini App init data older than this is refused (Telegram re-signs it on every launch).
TMA_AUTH_MAX_AGE_SECONDS = env.int("TMA_AUTH_MAX_AGE_SECONDS", default=60 * 60 * 24)
# Idempotency-Key records live this long; an in-progress claim older than the timeout is abandoned.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
IDEMPOTENCY_IN_PROGRESS_TIMEOUT_SECONDS = env.int("IDEMPOTENCY_IN_PROGRESS_TIMEOUT_SECONDS", default=120)
SPECTACULAR_SETTINGS = {
    "TITLE": "Stars Shop API",
    "DESCRIPTION": (
        "Purchase API for Telegram Stars subscriptions. Every error answers "
        '`{"error": {"code", "message", "details"}}`. Every POST accepts an `Idempotency-Key` header.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "payments.models.Payment.Status",
        "PaymentSourceEnum": "payments.models.Payment.Source",
        "ClientSourceEnum": "api.serializers.CLIENT_SOURCES",
        "SubscriptionStateEnum": "api.serializers.SUBSCRIPTION_STATES",
    },
}

# Logs go to stderr, one line each. LOG_FORMAT=json makes every line of every
# process a JSON object (gunicorn's own lines too: config/gunicorn.py reads it).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
try:
    _log_formatter = formatter_config(LOG_FORMAT)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc))
if LOG_FORMAT == "json":
    logging.captureWarnings(True)  # a library's warning becomes a log line, not raw stderr
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"console": _log_formatter},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "environ": {"level": "WARNING"},  # "no .env file" is normal when the environment is set
        # It logs every 429 retry, and a traceback when it gives up; the caller logs the typed error.
        "telegram.ext.AIORateLimiter": {"level": "CRITICAL"},
        # One line per finished task (the sweeper runs every few seconds); failures still show.
        "celery.app.trace": {"level": "WARNING"},
        # Its start-up banner and a line per sign-in; failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}

# Errors to Sentry, only when a DSN is given (web, bot, worker and beat alike).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        send_default_pii=False,
    )

# --- Operations: health probes and metrics ----------------------------------------
# GET /health/live (the process answers) and /health/ready (database, cache, broker;
# plus the outbox's and the polling bot's freshness, reported but not fatal).
# The outbox check reports stale when its oldest due row waits longer than this.
HEALTH_OUTBOX_MAX_AGE_SECONDS = env.int("HEALTH_OUTBOX_MAX_AGE_SECONDS", default=600)
# The polling bot records a heartbeat every getUpdates round; older than this is stale.
HEALTH_BOT_MAX_SILENCE_SECONDS = env.int("HEALTH_BOT_MAX_SILENCE_SECONDS", default=120)
# GET /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`;
# without a token it is refused. Counters and histograms of every process on the
# host are added up when all of them share PROMETHEUS_MULTIPROC_DIR (read by
# prometheus_client itself from the environment).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    os.makedirs(PROMETHEUS_MULTIPROC_DIR, exist_ok=True)

# --- Staff sign-in ------------------------------------------------------------------
# Failed admin sign-ins are counted per account and per client address (the address as
# core.clientip reads it behind DJANGO_TRUSTED_PROXY_COUNT proxies), in the database so every
# web process agrees (django-axes). Past the limit, the account and the address are refused,
# the right password too, until the lockout ends or a superuser unlocks them (admin:
# "Sign-in failures", or `manage.py axes_reset_username NAME`). A failure during the lockout starts it again.
STAFF_LOGIN_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", default=5)
STAFF_LOGIN_LOCKOUT_MINUTES = env.int("STAFF_LOGIN_LOCKOUT_MINUTES", default=30)
if STAFF_LOGIN_FAILURE_LIMIT < 1 or STAFF_LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured("STAFF_LOGIN_FAILURE_LIMIT and STAFF_LOGIN_LOCKOUT_MINUTES must be at least 1")
AXES_FAILURE_LIMIT = STAFF_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=STAFF_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one past the limit locks
AXES_CLIENT_IP_CALLABLE = "core.clientip.client_address"
AXES_LOCKOUT_CALLABLE = "staff.lockout.lockout_response"
AXES_ONLY_ADMIN_SITE = True  # the API, the bot and the Mini App never sign in with a password
AXES_ENABLE_ADMIN = False  # the shop's own pages (staff/admin.py), translated, unlock for superusers
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_SENSITIVE_PARAMETERS = ["otp_token"]  # never stored with a failure (the password never is)
# A second factor (an authenticator app's code; single-use recovery codes) for superusers and for
# staff with any of these permissions. Only a debug run may relax it (make run does, for its demo admin).
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=True)
if not DEBUG and not STAFF_2FA_REQUIRED:
    raise ImproperlyConfigured("STAFF_2FA_REQUIRED=false is for development only (DJANGO_DEBUG=true)")
STAFF_2FA_PERMISSIONS = [
    "payments.refund_payment",
    "payments.resolve_review",
    "users.adjust_balance",
    "broadcasts.send_broadcast",
    "subscriptions.change_tariff",
    "promos.change_promocode",
    "promos.add_promocode",
]
# A staff session unused for this long ends (buyers never have one).
STAFF_SESSION_IDLE_MINUTES = env.int("STAFF_SESSION_IDLE_MINUTES", default=30)
# Staff actions ("Staff actions" in the admin) are kept this long, then purged daily.
STAFF_AUDIT_RETENTION_DAYS = env.int("STAFF_AUDIT_RETENTION_DAYS", default=730)
if STAFF_SESSION_IDLE_MINUTES < 1 or STAFF_AUDIT_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("STAFF_SESSION_IDLE_MINUTES and STAFF_AUDIT_RETENTION_DAYS must be at least 1")

# --- The shop ---------------------------------------------------------------
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
TELEGRAM_WEBHOOK_URL = env.str("TELEGRAM_WEBHOOK_URL", default="")
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
TELEGRAM_TEST_ENV = env.bool("TELEGRAM_TEST_ENV", default=False)
# Outbound messages the shop sends on its own (links, reminders, broadcasts), shared by
# all of one process's sends: Telegram allows about 30 messages/s overall and 1/s per chat.
TELEGRAM_OUTBOUND_MAX_PER_SECOND = env.float("TELEGRAM_OUTBOUND_MAX_PER_SECOND", default=30)
TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND = env.float("TELEGRAM_OUTBOUND_PER_CHAT_PER_SECOND", default=1)
# A 429 is waited out (its retry_after) and the call retried this many times before giving up.
TELEGRAM_OUTBOUND_MAX_RETRIES = env.int("TELEGRAM_OUTBOUND_MAX_RETRIES", default=3)
TELEGRAM_REQUEST_TIMEOUT = env.float("TELEGRAM_REQUEST_TIMEOUT", default=10.0)
TELEGRAM_STARS_ENABLED = env.bool("TELEGRAM_STARS_ENABLED", default=bool(TELEGRAM_BOT_TOKEN))
# Mock payments complete purchases without money (the demo's POST /api/v1/purchase,
# /api/v1/dev/add-stars and the mock pay page). In debug they are on when no bot
# token is configured. Outside debug they are off whatever else is set: a web
# process without the bot's token is normal there, and free purchases are not.
# Only the loudly named override turns them on in a non-debug process
# (MOCK_PAYMENTS=true alone refuses to start).
MOCK_PAYMENTS_FORCED_IN_PRODUCTION = env.bool("DANGEROUSLY_ENABLE_MOCK_PAYMENTS_IN_PRODUCTION", default=False)
MOCK_PAYMENTS = env.bool(
    "MOCK_PAYMENTS", default=(DEBUG and not TELEGRAM_BOT_TOKEN) or (not DEBUG and MOCK_PAYMENTS_FORCED_IN_PRODUCTION)
)
if not DEBUG and MOCK_PAYMENTS and not MOCK_PAYMENTS_FORCED_IN_PRODUCTION:
    raise ImproperlyConfigured(
        "MOCK_PAYMENTS=true gives purchases away for free; outside DJANGO_DEBUG it also needs "
        "DANGEROUSLY_ENABLE_MOCK_PAYMENTS_IN_PRODUCTION=true"
    )

SUBSCRIPTION_STARS_1MONTH = env.int("SUBSCRIPTION_STARS_1MONTH", default=100)
SUBSCRIPTION_STARS_3MONTHS = env.int("SUBSCRIPTION_STARS_3MONTHS", default=250)
SUBSCRIPTION_STARS_6MONTHS = env.int("SUBSCRIPTION_STARS_6MONTHS", default=450)
SUBSCRIPTION_STARS_12MONTHS = env.int("SUBSCRIPTION_STARS_12MONTHS", default=800)

# A pending invoice older than this is expired by `expire_pending_payments`.
PAYMENT_PENDING_TTL_MINUTES = env.int("PAYMENT_PENDING_TTL_MINUTES", default=60 * 24)
# Top-up amounts offered to buyers (Stars).
BALANCE_TOPUP_AMOUNTS = env.list("BALANCE_TOPUP_AMOUNTS", cast=int, default=[100, 250, 500, 1000])
BALANCE_TOPUP_MAX = env.int("BALANCE_TOPUP_MAX", default=10000)

PROVISIONING_BACKEND = env.str("PROVISIONING_BACKEND", default="none")
if PROVISIONING_BACKEND not in {"none", "remnawave"}:
    raise ImproperlyConfigured("PROVISIONING_BACKEND must be 'remnawave' or 'none'")
REMNAWAVE_URL = env.str("REMNAWAVE_URL", default="")
REMNAWAVE_TOKEN = env.str("REMNAWAVE_TOKEN", default="")
REMNAWAVE_SQUADS = env.list("REMNAWAVE_SQUADS", default=[])
REMNAWAVE_WEBHOOK_SECRET = env.str("REMNAWAVE_WEBHOOK_SECRET", default="")
REMNAWAVE_API_VERSION = env.str("REMNAWAVE_API_VERSION", default="auto")
if PROVISIONING_BACKEND == "remnawave" and not (REMNAWAVE_URL and REMNAWAVE_TOKEN):
    raise ImproperlyConfigured("PROVISIONING_BACKEND=remnawave needs REMNAWAVE_URL and REMNAWAVE_TOKEN")

SUPPORT_CONTACT = env.str("SUPPORT_CONTACT", default="@support")
# The shop's name in the admin's header and page titles.
SHOP_NAME = env.str("SHOP_NAME", default="Stars Shop")
# The account name staff see in their authenticator app.
OTP_TOTP_ISSUER = SHOP_NAME

# --- The buyer's journey --------------------------------------------------------
# Dates shown to buyers (expiry, reminders) are in this zone; the database and the
# admin stay in UTC. Moscow by default: the bot speaks Russian first.
SHOP_TIME_ZONE = env.str("SHOP_TIME_ZONE", default="Europe/Moscow")
try:
    zoneinfo.ZoneInfo(SHOP_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"SHOP_TIME_ZONE {SHOP_TIME_ZONE!r} is not a time zone (e.g. Europe/Moscow)") from exc
# Free trial length in days (0 = no trial) and the referrer's bonus days for an
# invited buyer's first paid purchase (0 = no bonus). These are the defaults:
# admins override both in the admin (Shop settings) without a restart.
TRIAL_DAYS = env.int("TRIAL_DAYS", default=0)
REFERRAL_BONUS_DAYS = env.int("REFERRAL_BONUS_DAYS", default=7)
if TRIAL_DAYS < 0 or REFERRAL_BONUS_DAYS < 0:
    raise ImproperlyConfigured("TRIAL_DAYS and REFERRAL_BONUS_DAYS must not be negative")

# --- Background work ------------------------------------------------------------
# With a broker, Celery workers run the background tasks and Celery beat the
# periodic ones (schedules in the admin, django-celery-beat). Without one, the
# web process and `runbot` run the same tasks on threads of their own.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a slow panel call must not hold other tasks hostage
CELERY_TASK_IGNORE_RESULT = True  # results live in the database rows, not in a result backend
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this; no task uses an ETA (retries
# are due rows picked up by the sweeper), so it only has to outlast the longest run.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=2 * 3600),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # A hand-over (enqueue, on a serving thread) tries the broker once instead of
    # retrying for CELERY_BROKER_CONNECTION_TIMEOUT: the row stays due for the
    # sweeper. Workers and beat pass their own retry limits when they connect.
    "max_retries": 0,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Threads of the in-process worker used without a broker.
BACKGROUND_THREADS = env.int("BACKGROUND_THREADS", default=2)
# Tests only: run handed-over tasks at once on the calling thread.
BACKGROUND_TASKS_INLINE = False
# Handled Telegram updates are deleted after this many days (failed ones are kept).
TELEGRAM_UPDATES_RETENTION_DAYS = env.int("TELEGRAM_UPDATES_RETENTION_DAYS", default=30)
# A stored update whose handler has not finished after this long (its process died) is run again.
TELEGRAM_UPDATE_LEASE_SECONDS = env.int("TELEGRAM_UPDATE_LEASE_SECONDS", default=120)
# Failed updates are retried after this many seconds, doubling per attempt; also how often they are looked for.
TELEGRAM_UPDATE_RETRY_SECONDS = env.float("TELEGRAM_UPDATE_RETRY_SECONDS", default=5.0)

# --- Remnawave ---------------------------------------------------------------
# Extra headers for every panel call (JSON object), e.g. a cookie or a key the
# reverse proxy in front of the panel wants: REMNAWAVE_EXTRA_HEADERS='{"X-Api-Key": "..."}'.
REMNAWAVE_EXTRA_HEADERS = env.json("REMNAWAVE_EXTRA_HEADERS", default={})
# Calling the panel container directly (not through its proxy) needs these two.
REMNAWAVE_FORWARDED = env.bool("REMNAWAVE_FORWARDED", default=False)
REMNAWAVE_TIMEOUT = env.float("REMNAWAVE_TIMEOUT", default=10.0)
# Panel calls a buyer waits on (their devices, their traffic) get this timeout and no retries.
REMNAWAVE_READ_TIMEOUT = env.float("REMNAWAVE_READ_TIMEOUT", default=3.0)
# How long a buyer's traffic reading from the panel is reused.
PANEL_READ_CACHE_SECONDS = env.int("PANEL_READ_CACHE_SECONDS", default=60)
# Retries inside one call (connection errors and 5xx only); the queue retries after that.
REMNAWAVE_MAX_RETRIES = env.int("REMNAWAVE_MAX_RETRIES", default=2)
REMNAWAVE_RETRY_BACKOFF = env.float("REMNAWAVE_RETRY_BACKOFF", default=0.5)
REMNAWAVE_USERNAME_PREFIX = env.str("REMNAWAVE_USERNAME_PREFIX", default="tg_")
REMNAWAVE_TRAFFIC_STRATEGY = env.str("REMNAWAVE_TRAFFIC_STRATEGY", default="MONTH")
# A failing provisioning task is retried with exponential backoff
# (base * 2**(attempt-1), capped) and marked failed after this many attempts.
PROVISIONING_MAX_ATTEMPTS = env.int("PROVISIONING_MAX_ATTEMPTS", default=12)
PROVISIONING_BACKOFF_SECONDS = env.float("PROVISIONING_BACKOFF_SECONDS", default=30.0)
PROVISIONING_BACKOFF_MAX_SECONDS = env.float("PROVISIONING_BACKOFF_MAX_SECONDS", default=3600.0)
# A sync the panel refuses for the shop's configuration (token, permissions, squads) waits
# this long, with every other due sync, instead of spending its attempts; fixing the
# configuration releases them at the next panel check.
PROVISIONING_CONFIG_RETRY_SECONDS = env.float("PROVISIONING_CONFIG_RETRY_SECONDS", default=900.0)
# How often the worker asks the panel about the shop's configuration (readiness shows the answer).
PANEL_CHECK_SECONDS = env.int("PANEL_CHECK_SECONDS", default=300)
# A claimed task whose worker died is claimable again after this lease.
PROVISIONING_LEASE_SECONDS = env.int("PROVISIONING_LEASE_SECONDS", default=300)
PROVISIONING_POLL_SECONDS = env.float("PROVISIONING_POLL_SECONDS", default=5.0)
# A task handed to the queue is handed over again by the sweeper after this long if it is still due.
PROVISIONING_REQUEUE_SECONDS = env.float("PROVISIONING_REQUEUE_SECONDS", default=60.0)
# Run a task right after the commit that queued it (one try, no in-call retries);
# false leaves everything to `process_provisioning`.
PROVISIONING_RUN_AFTER_COMMIT = env.bool("PROVISIONING_RUN_AFTER_COMMIT", default=True)
# A signed panel webhook whose body timestamp is older than this is ignored as a replay.
REMNAWAVE_WEBHOOK_MAX_AGE_SECONDS = env.int("REMNAWAVE_WEBHOOK_MAX_AGE_SECONDS", default=900)
# Expired subscriptions older than this get no "expired" reminder (first deploys, old data).
EXPIRY_REMINDER_EXPIRED_LOOKBACK_DAYS = env.int("EXPIRY_REMINDER_EXPIRED_LOOKBACK_DAYS", default=3)
# auto (read from the panel), or pinned: "2", "3" or the release, e.g. "2.8.1".
if not re.fullmatch(r"auto|[23](\.\d+(\.\d+)?)?", str(REMNAWAVE_API_VERSION).strip().lower()):
    raise ImproperlyConfigured("REMNAWAVE_API_VERSION must be auto, 2, 3 or the panel's release, e.g. 2.8.1")
# Usernames are the prefix and a Telegram id (up to 16 digits); every panel release takes 6-36
# letters, digits, _ and -.
if not re.fullmatch(r"[A-Za-z0-9_-]{1,20}", REMNAWAVE_USERNAME_PREFIX):
    raise ImproperlyConfigured("REMNAWAVE_USERNAME_PREFIX must be 1-20 letters, digits, _ or -, e.g. tg_")
if REMNAWAVE_TRAFFIC_STRATEGY not in {"NO_RESET", "DAY", "WEEK", "MONTH"}:
    raise ImproperlyConfigured("REMNAWAVE_TRAFFIC_STRATEGY must be NO_RESET, DAY, WEEK or MONTH")
if not isinstance(REMNAWAVE_EXTRA_HEADERS, dict):
    raise ImproperlyConfigured('REMNAWAVE_EXTRA_HEADERS must be a JSON object, e.g. {"X-Api-Key": "..."}')

# --- Broadcasts ---------------------------------------------------------------
# Messages a worker hands to Telegram at once (the Telegram client keeps the overall rate,
# TELEGRAM_OUTBOUND_MAX_PER_SECOND); a cancel stops the sending after at most one batch.
BROADCAST_BATCH_SIZE = env.int("BROADCAST_BATCH_SIZE", default=25)
# A run sends for this long, then hands the broadcast to the queue again (short tasks).
BROADCAST_SLICE_SECONDS = env.float("BROADCAST_SLICE_SECONDS", default=30.0)
# A run whose worker died is replaced after this (at once when it was a process of this host);
# it must outlast one batch (a few client timeouts).
BROADCAST_LEASE_SECONDS = env.int("BROADCAST_LEASE_SECONDS", default=300)
# How often broadcasts nobody runs are handed over again (a lost hand-over, a dead worker).
BROADCAST_SWEEP_SECONDS = env.float("BROADCAST_SWEEP_SECONDS", default=15.0)
if BROADCAST_BATCH_SIZE < 1 or BROADCAST_SLICE_SECONDS <= 0 or BROADCAST_LEASE_SECONDS < 60:
    raise ImproperlyConfigured(
        "BROADCAST_BATCH_SIZE must be at least 1, BROADCAST_SLICE_SECONDS positive, BROADCAST_LEASE_SECONDS >= 60"
    )

# --- The owner's chat -------------------------------------------------------------
# Alerts (payments to review, refunds, panel trouble, a stuck outbox, a silent bot...) and the
# daily summary go to this Telegram chat: the owner's private chat with the bot (their user id),
# a group or a forum supergroup (-100...) the bot is a member of. Empty: no alerts.
OWNER_CHAT_ID = env.int("OWNER_CHAT_ID", default=None)
# A forum supergroup's topic for every alert, and topics per kind of alert (JSON), e.g.
# OWNER_THREAD_IDS='{"purchase": 12, "refund": 12, "summary": 15}'. Kinds: purchase, refund,
# review, panel, outbox, bot, star_balance, broadcast, summary.
OWNER_THREAD_ID = env.int("OWNER_THREAD_ID", default=None)
OWNER_THREAD_IDS = env.json("OWNER_THREAD_IDS", default={})
_ALERT_KINDS = {"purchase", "refund", "review", "panel", "outbox", "bot", "star_balance", "broadcast", "summary"}
if not isinstance(OWNER_THREAD_IDS, dict) or not all(
    key in _ALERT_KINDS and isinstance(value, int) and not isinstance(value, bool)
    for key, value in OWNER_THREAD_IDS.items()
):
    raise ImproperlyConfigured(
        'OWNER_THREAD_IDS must be a JSON object of alert kinds and topic ids, e.g. {"refund": 12}; kinds: '
        + ", ".join(sorted(_ALERT_KINDS))
    )
# Every purchase too (off: a busy shop reads them in the daily summary and on the dashboard).
OWNER_ALERT_PURCHASES = env.bool("OWNER_ALERT_PURCHASES", default=False)
# At most one message per kind of alert in this many seconds: the alerts in between are sent as
# one ("50 purchases in 5 minutes: ..."), not one each.
OWNER_ALERT_GROUP_SECONDS = env.int("OWNER_ALERT_GROUP_SECONDS", default=300)
# Alert when the bot's own Star balance (what Telegram holds for the shop) falls below this; 0: never.
OWNER_STAR_BALANCE_BELOW = env.int("OWNER_STAR_BALANCE_BELOW", default=0)
# The hour (0-23, in SHOP_TIME_ZONE) from which yesterday's summary is sent, once a day; empty: none.
_summary_hour = env.str("OWNER_SUMMARY_HOUR", default="9").strip()
if _summary_hour and not (_summary_hour.isdigit() and 0 <= int(_summary_hour) <= 23):
    raise ImproperlyConfigured("OWNER_SUMMARY_HOUR must be an hour from 0 to 23, or empty for no daily summary")
OWNER_SUMMARY_HOUR = int(_summary_hour) if _summary_hour else None
if OWNER_ALERT_GROUP_SECONDS < 1 or OWNER_STAR_BALANCE_BELOW < 0:
    raise ImproperlyConfigured("OWNER_ALERT_GROUP_SECONDS must be at least 1, OWNER_STAR_BALANCE_BELOW not negative")
# Where the shop is reached from outside (https://shop.example.com): alerts link to its admin pages.
# Default: the scheme and host of TELEGRAM_WEBHOOK_URL; neither set: alerts carry no links.
SHOP_BASE_URL = env.str("SHOP_BASE_URL", default="").rstrip("/")
if not SHOP_BASE_URL and TELEGRAM_WEBHOOK_URL:
    _webhook = re.match(r"(https?://[^/]+)", TELEGRAM_WEBHOOK_URL)
    SHOP_BASE_URL = _webhook.group(1) if _webhook else ""
if SHOP_BASE_URL and not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", SHOP_BASE_URL):
    raise ImproperlyConfigured("SHOP_BASE_URL must be the shop's address, e.g. https://shop.example.com")

# --- Bot texts ---------------------------------------------------------------
# Shown by /terms, /privacy and /paysupport; empty means the built-in text in
# the user's language (Russian or English), which names SUPPORT_CONTACT.
TERMS_TEXT = env.str("TERMS_TEXT", default="")
PRIVACY_TEXT = env.str("PRIVACY_TEXT", default="")
PAYSUPPORT_TEXT = env.str("PAYSUPPORT_TEXT", default="")
# Flood limit: at most this many updates per user in this many seconds
# (payments are never limited); the flooding user is told once to slow down.
BOT_RATE_LIMIT_UPDATES = env.int("BOT_RATE_LIMIT_UPDATES", default=20)
BOT_RATE_LIMIT_SECONDS = env.int("BOT_RATE_LIMIT_SECONDS", default=10)
# Channel gate (optional): the bot asks people to join this channel (@name or a numeric id such
# as -1001234567890) before the free trial (scope "trial") or before anything but paying and a
# subscriber's own screens (scope "all"). The bot must be an administrator of the channel
# (`manage.py bot_check` says whether it is); while it cannot check, the gate stays open.
# REQUIRED_CHANNEL_LINK: the join button's link for a private channel (an invite link);
# empty means t.me/<name> for @name, else the channel's invite link as Telegram gives it.
REQUIRED_CHANNEL = env.str("REQUIRED_CHANNEL", default="").strip()
REQUIRED_CHANNEL_SCOPE = env.str("REQUIRED_CHANNEL_SCOPE", default="trial").strip().lower()
REQUIRED_CHANNEL_LINK = env.str("REQUIRED_CHANNEL_LINK", default="").strip()
if REQUIRED_CHANNEL_SCOPE not in ("trial", "all"):
    raise ImproperlyConfigured("REQUIRED_CHANNEL_SCOPE is trial (before the free trial) or all (before anything)")
if REQUIRED_CHANNEL and not re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20}", REQUIRED_CHANNEL):
    raise ImproperlyConfigured("REQUIRED_CHANNEL is a channel's @name or its numeric id (e.g. -1001234567890)")

# The default periodic schedule: created as django-celery-beat rows after `migrate`
# (edit them in the admin), and run at these intervals by the embedded worker.
PERIODIC_TASKS = {
    "provisioning: hand due outbox rows to the workers": {
        "task": "subscriptions.sweep_outbox",
        "every": PROVISIONING_POLL_SECONDS,
    },
    "bot: re-run stored updates whose handling failed": {
        "task": "telegram_bot.retry_due_updates",
        "every": TELEGRAM_UPDATE_RETRY_SECONDS,
    },
    "reminders: expiry reminders": {"task": "subscriptions.send_expiry_reminders", "every": 600},
    "provisioning: check the panel's version, token and squads": {
        "task": "subscriptions.check_panel",
        "every": PANEL_CHECK_SECONDS,
    },
    "broadcasts: hand sending broadcasts to the workers": {
        "task": "broadcasts.sweep",
        "every": BROADCAST_SWEEP_SECONDS,
    },
    "payments: expire stale invoices": {"task": "payments.expire_stale_invoices", "every": 300},
    "payments: reconcile with Telegram's Star transactions": {"task": "payments.reconcile_stars", "every": 900},
    "payments: end Star subscriptions whose paid period is over": {
        "task": "payments.expire_star_subscriptions",
        "every": 3600,
    },
    "dashboard: count today's subscribers": {"task": "payments.count_subscribers", "every": 600},
    "api: purge expired idempotency keys": {"task": "api.purge_idempotency_keys", "every": 3600},
    "bot: purge old handled updates": {"task": "telegram_bot.purge_handled_updates", "every": 86400},
    "staff: purge staff actions past their retention": {"task": "staff.purge_staff_actions", "every": 86400},
    "owner: send alerts to the owner's chat": {"task": "notifications.send_owner_alerts", "every": 30},
    "owner: watch the outbox, the bot and the Star balance": {"task": "ops.watch_for_owner", "every": 60},
    "owner: yesterday's summary, once a day from OWNER_SUMMARY_HOUR": {
        "task": "payments.owner_daily_summary",
        "every": 600,
    },
}
