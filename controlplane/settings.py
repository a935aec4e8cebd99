"""Settings for the control plane.

Every knob comes from the environment (see `.env.example`) with a safe default. The defaults are the
*embedded mode*: SQLite and a filesystem Celery broker under `var/`, a local Prefect server on 127.0.0.1:4200.
`DATABASE_URL`, `CELERY_BROKER_URL` and `PREFECT_API_URL` switch to real services.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# PRODUCTION turns on the strict checks: secrets must come from the environment, cookies are secure.
PRODUCTION = env.bool("PRODUCTION", default=False)


def _kept_secret(name: str, make: str) -> str:
    """A random secret generated once into var/<name> (mode 0600) and read back on every later start."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make)
        path.chmod(0o600)
    return path.read_text().strip()


def _secret_key() -> str:
    """SECRET_KEY from the environment; in embedded mode a random key kept in var/ (never a hard-coded one)."""
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when PRODUCTION=true.")
    return _kept_secret("secret_key", secrets.token_urlsafe(50))


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty; set it to the host names this server answers to.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin on our site class: role users sign in without "staff status" (controlplane/access/admin_site.py).
    "controlplane.access.admin_app.ControlPlaneAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "axes",
    "controlplane",
    "workflows",
    "monitoring",
    "gateway",
    "pipelines",
    # After controlplane: the first app wins a management command name, and ours is `export_schema`.
    "strawberry_django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # `Authorization: Bearer <token>` → the token's user; CSRF skipped for those requests only.
    "controlplane.access.middleware.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees the authenticated user (django-axes' own rule).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend with each user's permissions cached across requests (controlplane/access/auth_backend.py).
    "controlplane.access.auth_backend.CachedPermissionsBackend",
]
# Upper bound on how long a permission change that sends no Django signal (relation-table rows written directly, a
# queryset update(), raw SQL) takes to apply; changes through models, relations and the admin apply at once.
PERMISSIONS_CACHE_SECONDS = env.int("PERMISSIONS_CACHE_SECONDS", default=60)

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"
ASGI_APPLICATION = "controlplane.asgi.application"
# Websocket scopes by path prefix (controlplane/asgi.py); everything else is Django.
ASGI_WEBSOCKET_APPLICATIONS = [("/prefect/api/", "gateway.websocket.application")]
# Prefect's API through the gateway without Django's middleware chain, one hop to the sync thread per request
# (gateway/fast_path.py; docs/architecture.md, "Gateway"). Off: Django's handler and the gateway's views serve it.
GATEWAY_FAST_PATH = env.bool("GATEWAY_FAST_PATH", default=True)
# Seconds its sync thread keeps a database connection that Django would close after each request (CONN_MAX_AGE 0).
GATEWAY_DB_CONNECTION_SECONDS = env.int("GATEWAY_DB_CONNECTION_SECONDS", default=60)
# HTTP paths by prefix → a factory taking Django's ASGI application (controlplane/asgi.py); the rest is Django.
ASGI_HTTP_APPLICATIONS = [("/prefect/api/", "gateway.fast_path.make_application")] if GATEWAY_FAST_PATH else []

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

# --- Database ------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'controlplane.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, Celery worker, beat and the event listener share one file: WAL lets readers run beside the writer,
    # IMMEDIATE transactions take the write lock up front instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Outside production, whitenoise serves straight from the apps (no collectstatic step for `make run`).
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "/admin/login/"

# --- Security ----------------------------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("BEHIND_TLS_PROXY", default=PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A GraphQL request body above this is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# django-axes: lock an account/IP pair after repeated failed logins.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# --- Prefect -----------------------------------------------------------------------------------------------------
PREFECT_API_URL = env.str("PREFECT_API_URL", default="http://127.0.0.1:4200/api")
# `make run` starts a local Prefect server unless PREFECT_API_URL names an existing one.
PREFECT_START_LOCAL_SERVER = env.bool("PREFECT_START_LOCAL_SERVER", default="PREFECT_API_URL" not in env.ENVIRON)
# The one credential of Prefect's API (Prefect's server checks it as `PREFECT_SERVER_API_AUTH_STRING`). A local server
# started by `make run` is always locked: without the variable, a string generated once is kept in var/ (0600).
PREFECT_API_AUTH_STRING = env.str("PREFECT_API_AUTH_STRING", default="")
if not PREFECT_API_AUTH_STRING and PREFECT_START_LOCAL_SERVER:
    PREFECT_API_AUTH_STRING = _kept_secret("prefect_auth_string", f"controlplane:{secrets.token_urlsafe(32)}")
PREFECT_API_TIMEOUT = env.float("PREFECT_API_TIMEOUT", default=10.0)
# Seconds to open a connection to Prefect: short, so a request to a dead server fails fast instead of hanging.
PREFECT_API_CONNECT_TIMEOUT = env.float("PREFECT_API_CONNECT_TIMEOUT", default=3.0)
# Seconds the gateway (/prefect/) waits for Prefect's answer before a 504 (connecting: at most 5 s, then a 502/504).
PREFECT_GATEWAY_TIMEOUT = env.float("PREFECT_GATEWAY_TIMEOUT", default=30.0)
# Prefect's client retries transient faults with exponential backoff (1 s, 2 s, …); keep it short so a sync
# against a dead server fails within seconds and says so.
PREFECT_CLIENT_MAX_RETRIES = env.int("PREFECT_CLIENT_MAX_RETRIES", default=2)
PREFECT_PAGE_SIZE = min(env.int("PREFECT_PAGE_SIZE", default=200), 200)  # Prefect answers 422 above 200

# --- Celery ------------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control in the working directory
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- First run (`make run`) ----------------------------------------------------------------------------------------
ADMIN_USERNAME = env.str("ADMIN_USERNAME", default="admin")
ADMIN_PASSWORD = env.str("ADMIN_PASSWORD", default="")

# --- Product knobs -----------------------------------------------------------------------------------------------
SYNC_INTERVAL_SECONDS = env.int("SYNC_INTERVAL_SECONDS", default=15)
RUN_RETENTION_DAYS = env.int("RUN_RETENTION_DAYS", default=365)
# The admin run list writes its rows itself (workflows/run_list_rows.py, the same markup); false: Django's own rows.
RUN_LIST_PLAIN_ROWS = env.bool("RUN_LIST_PLAIN_ROWS", default=True)
# Backups of the control plane's database (flows/backup_operations.py, controlplane/backups/).
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
BACKUP_SCRATCH_DATABASE = env.str("BACKUP_SCRATCH_DATABASE", default="")
# Keys the audit hash chain: without it, anyone with DB write access could rewrite the log and re-hash it.
AUDIT_HMAC_KEY = env.str("AUDIT_HMAC_KEY", default="")
if not AUDIT_HMAC_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("AUDIT_HMAC_KEY must be set in the environment when PRODUCTION=true.")
    AUDIT_HMAC_KEY = SECRET_KEY
GRAPHQL_INTROSPECTION = env.bool("GRAPHQL_INTROSPECTION", default=not PRODUCTION)
GRAPHQL_MAX_PAGE_SIZE = env.int("GRAPHQL_MAX_PAGE_SIZE", default=500)
# Limits checked while validating a GraphQL document, before any resolver (or database query) runs.
GRAPHQL_MAX_DEPTH = env.int("GRAPHQL_MAX_DEPTH", default=10)
GRAPHQL_MAX_ALIASES = env.int("GRAPHQL_MAX_ALIASES", default=20)
GRAPHQL_MAX_TOKENS = env.int("GRAPHQL_MAX_TOKENS", default=4000)
GRAPHQL_MAX_BULK_ITEMS = env.int("GRAPHQL_MAX_BULK_ITEMS", default=1000)
# A bulk operation of at most this many items runs within the request; a larger one becomes a background job
# (`workflows.BulkOperation`) whose id is returned at once, so no request outlives the web worker's timeout.
BULK_SYNC_MAX_ITEMS = env.int("BULK_SYNC_MAX_ITEMS", default=100)
# Work stored for a worker but still unsent this long — a bulk job, a notification delivery: the broker was down when
# it was stored — is sent to the workers again by beat; also the interval of those beat sweeps. Sending twice is
# harmless: a worker claims each piece of work once.
REQUEUE_SECONDS = env.int("REQUEUE_SECONDS", default=60)
# Prefect calls a bulk operation keeps in flight at once (threads sharing the process's Prefect client).
BULK_CONCURRENCY = env.int("BULK_CONCURRENCY", default=8)
# Per API token, session user or anonymous address, per minute; 0 turns a budget off (controlplane/api/rate_limit.py).
API_RATE_LIMIT_QUERIES = env.int("API_RATE_LIMIT_QUERIES", default=3000)
API_RATE_LIMIT_MUTATIONS = env.int("API_RATE_LIMIT_MUTATIONS", default=300)
STRAWBERRY_DJANGO = {"PAGINATION_DEFAULT_LIMIT": 100, "PAGINATION_MAX_LIMIT": GRAPHQL_MAX_PAGE_SIZE}
# A CSRF refusal on /graphql/ answers in the GraphQL error shape; elsewhere Django's own page.
CSRF_FAILURE_VIEW = "controlplane.api.view.csrf_failure"
# Same for a django-axes lockout (a login mutation after too many failures).
AXES_LOCKOUT_CALLABLE = "controlplane.api.view.axes_lockout_response"
# The parts of the GraphQL API, each owned by its room or app (controlplane/api/schema.py composes them; their order
# is the order of the root fields in schema.graphql).
GRAPHQL_QUERY_TYPES = [
    "controlplane.access.graphql.SessionQuery",
    "workflows.graphql.queries.ConfigQuery",
    "controlplane.audit.graphql.AuditQuery",
    "workflows.graphql.queries.WorkflowsQuery",
    "workflows.graphql.bulk.BulkOperationQuery",
    "monitoring.graphql.queries.MonitoringQuery",
]
GRAPHQL_MUTATION_TYPES = [
    "controlplane.access.graphql.SessionMutation",
    "workflows.graphql.mutations.ConfigMutation",
    "controlplane.access.graphql.TokenMutation",
    "workflows.graphql.mutations.WorkflowsMutation",
    "monitoring.graphql.mutations.MonitoringMutation",
]

# --- Stream pipeline (pipelines/, flows stream_incremental and stream_full_analysis) ---------------------------------
# The Redis the pipeline's stream lives on (redis://host:port/db); empty: the stream flows finish as skipped.
STREAM_REDIS_URL = env.str("STREAM_REDIS_URL", default="")
STREAM_NAME = env.str("STREAM_NAME", default="demo:readings")
STREAM_CONSUMER_GROUP = env.str("STREAM_CONSUMER_GROUP", default="controlplane")

# --- Monitoring (monitoring/) ---------------------------------------------------------------------------------------
# Seconds between host samples and component checks (the initial beat schedules; editable in the admin afterwards).
MONITORING_SAMPLE_SECONDS = env.int("MONITORING_SAMPLE_SECONDS", default=15)
# Raw samples older than this are pruned daily, in batches.
MONITORING_SAMPLE_RETENTION_HOURS = env.int("MONITORING_SAMPLE_RETENTION_HOURS", default=48)
# Per-minute and per-hour roll-ups of the samples are kept this long (pruned daily, in batches).
MONITORING_MINUTE_RETENTION_DAYS = env.int("MONITORING_MINUTE_RETENTION_DAYS", default=14)
MONITORING_HOUR_RETENTION_DAYS = env.int("MONITORING_HOUR_RETENTION_DAYS", default=365)
# Paths whose file systems are sampled (each reported under its mount point); default: the data directory's.
MONITORED_DISKS = env.list("MONITORED_DISKS", default=[str(VAR_DIR)])
# An open, unacknowledged alert is notified again after this many seconds.
ALERT_RENOTIFY_SECONDS = env.int("ALERT_RENOTIFY_SECONDS", default=3600)
# Window of the run health figures the thresholds see, and how late a scheduled run may start before it counts.
RUN_HEALTH_WINDOW_SECONDS = env.int("RUN_HEALTH_WINDOW_SECONDS", default=3600)
LATE_RUN_GRACE_SECONDS = env.int("LATE_RUN_GRACE_SECONDS", default=60)
# Seconds a notification (webhook, Slack) may take before it fails and is retried.
NOTIFICATION_TIMEOUT_SECONDS = env.float("NOTIFICATION_TIMEOUT_SECONDS", default=5.0)
# /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>` or from one of METRICS_ALLOWED_IPS.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
# Paths whose `Authorization: Bearer` is not an API token (the access middleware leaves it to the view).
BEARER_TOKEN_EXEMPT_PATHS = frozenset({"/metrics"})
# E-mail notifications: Django's email backend from a URL (smtp://user:pass@host:587, consolemail://, …).
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="controlplane@localhost")

# Sentry error reporting for the web and Celery processes, when a DSN is given.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(dsn=SENTRY_DSN, integrations=[DjangoIntegration(), CeleryIntegration()], send_default_pii=False)

# --- Fast paths over framework internals ----------------------------------------------------------------------------
# Each leans on a library's internals (pinned exactly in requirements/constraints.txt), is documented with its
# measured gain at the top of its module, and is switched off here, falling back to the library's standard path.
# GraphQL: controlplane/api/executor.py (leaf executor) and controlplane/api/fields.py (plain column fields).
GRAPHQL_FAST_EXECUTOR = env.bool("GRAPHQL_FAST_EXECUTOR", default=True)
# Mirror rows loaded without Model.__init__: controlplane/db/fast_loading.py.
ORM_FAST_LOADING = env.bool("ORM_FAST_LOADING", default=True)
# PostgreSQL timestamptz parsed by psycopg's C loader: controlplane/db/timestamps.py.
PG_FAST_TIMESTAMPTZ_LOADER = env.bool("PG_FAST_TIMESTAMPTZ_LOADER", default=True)
# PostgreSQL bulk upserts bound on the server with binary arrays: controlplane/db/binary_binding.py.
PG_BINARY_BULK_WRITES = env.bool("PG_BINARY_BULK_WRITES", default=True)

# --- Logging -----------------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"expected_failures_as_one_line": {"()": "controlplane.request_logging.ExpectedFailuresAsOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},
        "django.request": {"filters": ["expected_failures_as_one_line"]},
    },
}
