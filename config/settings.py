"""Tuneloop settings: one module, every knob from the environment, embedded defaults.

Unset DATABASE_URL -> SQLite file under var/; unset CELERY_BROKER_URL -> kombu's SQLAlchemy
transport over a SQLite file (no Redis needed). Set them to use PostgreSQL and Redis.
"""

import json
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TUNELOOP_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Demo mode (the embedded defaults: `make demo`, manage.py, the tests) may run with DEBUG and a generated
# secret key. A server process (config/wsgi.py and config/asgi.py mark themselves with
# DJANGO_SERVER_PROCESS=1) is in production mode unless TUNELOOP_DEMO=1: it refuses to start with DEBUG
# on or without a random DJANGO_SECRET_KEY.
_demo = env_bool("TUNELOOP_DEMO", os.environ.get("DJANGO_SERVER_PROCESS") != "1")
DEBUG = env_bool("DJANGO_DEBUG", _demo)
INSECURE_KEY_PREFIX = "django-insecure-"


def _demo_secret_key() -> str:
    """A random key kept in the data directory (mode 0600), never a key known from the source. Written
    to a temporary file and linked into place, so concurrent first starts agree on one complete key."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        import secrets  # deferred: only the demo needs it
        import tempfile  # deferred: only the demo needs it

        fd, tmp = tempfile.mkstemp(dir=DATA_DIR, prefix=".secret_key.")  # mode 0600
        with os.fdopen(fd, "w") as f:
            f.write(INSECURE_KEY_PREFIX + secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won: use its key
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not _demo:
    from django.core.exceptions import ImproperlyConfigured  # deferred: only production checks

    if DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG is on in production mode: set DJANGO_DEBUG=0 (or TUNELOOP_DEMO=1 for a demo)."
        )
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith(INSECURE_KEY_PREFIX) or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters in production mode "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), or TUNELOOP_DEMO=1 for a demo."
        )
if not SECRET_KEY:
    SECRET_KEY = _demo_secret_key()

# TLS terminated in front of the app (a proxy sending X-Forwarded-Proto): secure cookies, HSTS, redirect.
if env_bool("TUNELOOP_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("TUNELOOP_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]  # load balancers probe over plain HTTP
ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files: the docs work offline
    "annotation",
    "preferences",
    "training",
    "evaluation",
]

# Login lockout (annotation.people.lockout): Django's ModelBackend refusing a locked username.
AUTHENTICATION_BACKENDS = ["annotation.people.lockout.LockoutBackend"]
TUNELOOP_LOGIN_MAX_FAILURES = int(os.environ.get("TUNELOOP_LOGIN_MAX_FAILURES", "5"))
TUNELOOP_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("TUNELOOP_LOGIN_LOCKOUT_SECONDS", "900"))

MIDDLEWARE = [
    # Each request's id (client's X-Request-ID or a new one) in the JSON logs and the response.
    "annotation.core.logs.RequestId",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app server itself (gunicorn has no static view): `make demo`, one host.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A one-time password must be changed before anything else (annotation.people.sessions).
    "annotation.people.sessions.ForcePasswordChange",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Only our own scripts and styles, no framing (annotation.core.csp; README "Security headers and health").
    "annotation.core.csp.ContentSecurityPolicy",
    # A page that needs the worker stack on a web-only host: 503 naming it (annotation.core.worker_stack).
    "annotation.core.worker_stack.WorkerStackPages",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'tuneloop.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # A persistent connection is checked before a request's first query: one the database dropped
        # (a restart, a failover, pg_terminate_backend) is replaced instead of failing the request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's, with a health check that sends nothing unless the server has (annotation.core.db.postgresql)
    DATABASES["default"]["ENGINE"] = "annotation.core.db.postgresql"
# PostgreSQL: the API's hot statements (annotation.core.statements.cursor) are prepared once per
# connection, not parsed and planned on every request. Off for a pooler in transaction mode that
# cannot keep prepared statements (PgBouncer before 1.21): TUNELOOP_DB_PREPARE=0.
TUNELOOP_DB_PREPARE = os.environ.get("TUNELOOP_DB_PREPARE", "1").strip().lower() not in ("0", "false", "off")
# The embedded default serving a small team (README "How many annotators"): WAL lets readers go on
# while one transaction writes, synchronous=NORMAL syncs at checkpoints rather than at every commit
# (WAL keeps the file consistent; a power cut may lose the last commits), writers wait for each other
# (busy timeout 30 s) instead of failing with "database is locked", and every write transaction takes
# the write lock at BEGIN (IMMEDIATE: no deadlock upgrading a read), so write paths keep their
# transactions short. Connections persist (DB_CONN_MAX_AGE) like PostgreSQL's.
SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Checked where people choose a password (an invitation, the password change form), not on accounts
# that code creates.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}}
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at startup when it is missing
# WhiteNoise serves what collectstatic gathered in STATIC_ROOT and, without it, the apps' and
# STATICFILES_DIRS' files directly (re-scanned per request under DEBUG, so edits show at once).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = DATA_DIR / "media"

# --- Single sign-on (optional): OpenID Connect through django-allauth, off unless configured ----------
# TUNELOOP_OIDC_SERVER_URL is the provider's issuer URL (its /.well-known/openid-configuration is read
# at login); with a client id it turns SSO on: allauth's apps and URLs (/accounts/), a button on the
# login page. Run `manage.py migrate` after turning it on (allauth's tables).
_oidc = {
    "server_url": os.environ.get("TUNELOOP_OIDC_SERVER_URL", ""),
    "client_id": os.environ.get("TUNELOOP_OIDC_CLIENT_ID", ""),
    "secret": os.environ.get("TUNELOOP_OIDC_CLIENT_SECRET", ""),
}
TUNELOOP_OIDC_ENABLED = bool(_oidc["server_url"] and _oidc["client_id"])
# The login button's words: "Log in with <name>".
TUNELOOP_OIDC_NAME = os.environ.get("TUNELOOP_OIDC_NAME", "single sign-on")
if TUNELOOP_OIDC_ENABLED:
    INSTALLED_APPS += [
        "allauth",
        "allauth.account",
        "allauth.socialaccount",
        "allauth.socialaccount.providers.openid_connect",
    ]
    MIDDLEWARE.append("allauth.account.middleware.AccountMiddleware")
    AUTHENTICATION_BACKENDS = [
        "annotation.people.lockout.LockoutBackend",
        "allauth.account.auth_backends.AuthenticationBackend",
    ]
    SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": TUNELOOP_OIDC_NAME,
                    "client_id": _oidc["client_id"],
                    "secret": _oidc["secret"],
                    "settings": {"server_url": _oidc["server_url"]},
                }
            ],
        }
    }
    # A first SSO login makes the account (no project: a lead adds it on the Members page); allauth's own
    # password sign-up stays closed.
    ACCOUNT_ADAPTER = "annotation.people.sso.AccountAdapter"
    SOCIALACCOUNT_ADAPTER = "annotation.people.sso.SocialAccountAdapter"
    SOCIALACCOUNT_AUTO_SIGNUP = True
    SOCIALACCOUNT_LOGIN_ON_GET = False  # the login page's button POSTs (CSRF); a GET asks to confirm
    ACCOUNT_EMAIL_VERIFICATION = "none"
    ACCOUNT_LOGOUT_REDIRECT_URL = "login"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotation:project-list"
LOGOUT_REDIRECT_URL = "login"

# A request body that is not a file upload (JSON, forms): at most this many bytes (413 in the API's
# error format above it). File uploads have their own limit, TUNELOOP_MAX_IMPORT_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("TUNELOOP_MAX_BODY_BYTES", str(5 * 1024 * 1024)))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.core.auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's three, the JSON one refusing bodies nested too deeply to parse (a 400, not a 500)
    "DEFAULT_PARSER_CLASSES": [
        "annotation.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotation.core.api.exception_handler",
    # Scoped throttles: the token endpoint (per client address, on top of the per-account lockout).
    "DEFAULT_THROTTLE_RATES": {"auth": os.environ.get("TUNELOOP_AUTH_RATE", "30/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tuneloop API",
    "DESCRIPTION": "Annotation, preferences, agreement, training and evaluation for LLM fine-tuning.",
    "VERSION": "0.1.0",
    # /api/docs/ (Swagger UI) and /api/redoc/ load their scripts from drf-spectacular-sidecar, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "/" + STATIC_URL.lstrip("/") + "favicon.svg",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents the error bodies (400/401/403/404/409/413/429) of annotation.core.api.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotation.core.schema.add_error_responses",
    ],
    # One name per choice set, so the schema has no colliding enum names.
    "ENUM_NAME_OVERRIDES": {
        "ItemKindEnum": "annotation.models.ItemKind",
        "ItemStateEnum": "annotation.models.ItemState",
        "RunStateEnum": "training.models.RunState",
        "TrainingMethodEnum": "training.models.SnapshotKind",
        "ExportFormatEnum": "training.serializers.FORMATS",
        "ItemFileFormatEnum": "annotation.importing.serializers.FILE_FORMATS",
        "InterchangeFormatEnum": "annotation.importing.serializers.INTERCHANGE_FORMATS",
        "ExportPairStatusEnum": "training.serializers.EXPORT_STATUSES",
        "PairStatusEnum": "preferences.models.PairStatus",
        "EvalSetSourceEnum": "evaluation.models.EvalSetSource",
        "EvalSetCreateSourceEnum": "evaluation.serializers.CREATE_SOURCES",
        "PromotionActionEnum": "evaluation.models.PromotionAction",
        "LeakPolicyEnum": "evaluation.runs.LEAK_POLICIES",
        "SelectionOutputEnum": "annotation.active_learning.serializers.OUTPUTS",
    },
}

# --- Celery ---------------------------------------------------------------------------------
# Cached derived figures (the leaderboard's fit), shared by every web and worker process: a table in
# the database by default (`manage.py createcachetable`, run by `make migrate`); CACHE_URL=redis://host:6379/2
# uses Redis. (The per-project versions that invalidate them are a table of their own whatever the
# cache: annotation.core.versions.)
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL.startswith(("redis://", "rediss://"))
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "tuneloop_cache",
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    )
}

# API tokens -> users cached this many seconds (annotation.core.auth; revocation drops them at once).
# Only with a cache every web process shares: a per-process cache would miss another process's revocation.
_SHARED_CACHE = CACHES["default"]["BACKEND"].endswith("RedisCache")
TUNELOOP_AUTH_CACHE_SECONDS = int(
    os.environ.get("TUNELOOP_AUTH_CACHE_SECONDS", "300" if _SHARED_CACHE else "0")
)

CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL", f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = os.environ.get(
    "CELERY_RESULT_BACKEND",
    "redis" in CELERY_BROKER_URL
    and CELERY_BROKER_URL
    or f"db+sqlite:///{DATA_DIR / 'celery-results.sqlite3'}",
)
CELERY_TASK_ROUTES = {
    "training.tasks.*": {"queue": "gpu"},
    # Evaluation runs load models: where training runs.
    "evaluation.tasks.run_eval_task": {"queue": "gpu"},
    # Active learning's model-using tasks (scoring with the LM, sampling responses) run where training does.
    "annotation.active_learning.tasks.score_uncertainty": {"queue": "gpu"},
    "annotation.active_learning.tasks.score_margin": {"queue": "gpu"},
    "annotation.active_learning.tasks.materialize_batch": {"queue": "gpu"},
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that is down fails a publish within about two seconds instead of hanging the request (kombu
# retries a publish 3 times and Celery's Redis result store 20 times, a second apart, by default): the
# caller keeps its row queued and annotation.core.broker's sweep publishes it again later. Workers keep
# retrying their own connection forever (broker_connection_max_retries), so they come back with Redis.
_FAIL_FAST = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_TASK_PUBLISH_RETRY_POLICY = _FAIL_FAST
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2.0
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": _FAIL_FAST}
# Seconds a message taken by a worker may stay unacknowledged before Redis hands it to another worker
# (acks_late tasks whose worker died are redelivered after this; kombu's default is an hour).
_VISIBILITY_TIMEOUT = int(os.environ.get("TUNELOOP_BROKER_VISIBILITY_TIMEOUT", "3600"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2.0,
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    # a short visibility timeout (the fault tests') is swept for at every poll, not every 100 s
    **({"unacked_restore_interval": 1, "unacked_restore_throttle": 1} if _VISIBILITY_TIMEOUT < 60 else {}),
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
# How often beat recomputes the agreement report of projects with new judgments or adjudications.
TUNELOOP_AGREEMENT_REFRESH_SECONDS = float(os.environ.get("TUNELOOP_AGREEMENT_REFRESH_SECONDS", "600"))
# An incremental agreement recompute on the worker keeps the latest Dawid-Skene fit and queues a refit
# this many seconds later (at most one pending per project: annotation.quality.refit).
TUNELOOP_RELIABILITY_REFIT_SECONDS = float(os.environ.get("TUNELOOP_RELIABILITY_REFIT_SECONDS", "120"))
# How often beat embeds new production samples, retrains due quality models and recomputes priorities.
TUNELOOP_AL_REFRESH_SECONDS = float(os.environ.get("TUNELOOP_AL_REFRESH_SECONDS", "300"))
# How often beat writes the Items page's search rows of items made outside an import (PostgreSQL).
TUNELOOP_SEARCH_INDEX_SECONDS = float(os.environ.get("TUNELOOP_SEARCH_INDEX_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
    # /healthz's "worker": the age of the newest heartbeat (this task's, or a running job's).
    "worker-heartbeat": {"task": "annotation.tasks.worker_heartbeat", "schedule": 60.0},
    "release-expired-leases": {"task": "annotation.tasks.release_expired_leases", "schedule": 60.0},
    # Agreement reports of projects with new judgments or adjudications since their last report.
    "refresh-agreement-reports": {
        "task": "annotation.tasks.refresh_agreement_reports",
        "schedule": TUNELOOP_AGREEMENT_REFRESH_SECONDS,
    },
    # Runs whose worker died (no heartbeat for TUNELOOP_RUN_STALE_SECONDS) become "interrupted".
    "mark-interrupted-runs": {"task": "training.maintenance.mark_interrupted_runs", "schedule": 120.0},
    "mark-interrupted-evals": {"task": "evaluation.maintenance.mark_interrupted_evals", "schedule": 120.0},
    # Active learning: embed new samples, retrain quality models that have N new decisions, re-rank.
    "active-learning-refresh": {
        "task": "annotation.active_learning.tasks.refresh",
        "schedule": TUNELOOP_AL_REFRESH_SECONDS,
    },
    # The Items page's search rows of items that have none (annotation.quality.search_index).
    "index-item-search": {
        "task": "annotation.tasks.index_item_search",
        "schedule": TUNELOOP_SEARCH_INDEX_SECONDS,
    },
    # Task messages kept in the outbox while the broker was down (annotation.core.broker) are published.
    "flush-outbox": {"task": "annotation.tasks.flush_outbox", "schedule": 60.0},
    # API idempotency keys older than TUNELOOP_IDEMPOTENCY_HOURS are deleted.
    "purge-idempotency-keys": {"task": "annotation.tasks.purge_idempotency_keys", "schedule": 3600.0},
    # Export jobs whose worker died are requeued with a higher attempt and start over.
    "recover-stale-exports": {"task": "training.maintenance.recover_stale_exports", "schedule": 120.0},
}

# --- Tuneloop -------------------------------------------------------------------------------
TUNELOOP_DEFAULT_BASE_MODEL = os.environ.get("TUNELOOP_BASE_MODEL", "smollm2-135m-instruct")
TUNELOOP_MODEL_CACHE = os.environ.get("TUNELOOP_MODEL_CACHE", str(DATA_DIR / "models"))
TUNELOOP_DEFAULT_LEASE_MINUTES = int(os.environ.get("TUNELOOP_LEASE_MINUTES", "30"))
TUNELOOP_RUN_STALE_SECONDS = int(os.environ.get("TUNELOOP_RUN_STALE_SECONDS", "600"))
TUNELOOP_CANCEL_POLL_SECONDS = float(os.environ.get("TUNELOOP_CANCEL_POLL_SECONDS", "2"))
# GPUs a GPU worker trains on: above 1, a run is launched through `accelerate launch`, one process per
# GPU (training.pipeline.launch); 1 trains in the worker's own process (CPU or one GPU).
TUNELOOP_GPUS = int(os.environ.get("TUNELOOP_GPUS", "1"))
# Largest import upload (page and API), in bytes.
TUNELOOP_MAX_IMPORT_BYTES = int(os.environ.get("TUNELOOP_MAX_IMPORT_BYTES", str(100 * 1024 * 1024)))
# Item files larger than this (page and API uploads) are imported by a task with progress (an import job);
# smaller ones in the request.
TUNELOOP_IMPORT_TASK_BYTES = int(os.environ.get("TUNELOOP_IMPORT_TASK_BYTES", str(10 * 1024 * 1024)))
# A Celery worker computes agreement reports (scripts/serve.sh, which starts one, sets it); off, or with
# CELERY_TASK_ALWAYS_EAGER, the lead's "Recompute" computes in the request (annotation.quality.tasks.request_recompute).
TUNELOOP_ASYNC_AGREEMENT = env_bool("TUNELOOP_ASYNC_AGREEMENT", False)
# Incremental recomputes (agreement, consensus) redo the items changed since their previous run began,
# minus this many seconds: a judgment whose transaction lasted longer than this could be missed until
# the next full recompute (annotation.core.changes).
TUNELOOP_RECOMPUTE_LAG_SECONDS = float(os.environ.get("TUNELOOP_RECOMPUTE_LAG_SECONDS", "300"))
# Exports of snapshots with at most this many rows are written in the request and sent to the browser;
# larger ones run as a task (progress bar, then a download link).
TUNELOOP_EXPORT_INLINE_ROWS = int(os.environ.get("TUNELOOP_EXPORT_INLINE_ROWS", "5000"))
# A Hugging Face token with write access: when set, finished exports offer "push to the Hub". Read from
# the environment only; never stored in the database, never shown.
TUNELOOP_HF_TOKEN = os.environ.get("TUNELOOP_HF_TOKEN", "")
# Hours an API client's Idempotency-Key is remembered (annotation.core.idempotency): a retry within this
# time returns the first response; beat deletes older keys hourly.
TUNELOOP_IDEMPOTENCY_HOURS = float(os.environ.get("TUNELOOP_IDEMPOTENCY_HOURS", "24"))
# Days an invite link (a lead's invitation to join a project) stays valid; it works once.
TUNELOOP_INVITE_DAYS = float(os.environ.get("TUNELOOP_INVITE_DAYS", "7"))

# The one sentence embedder (snapshots' near-duplicate prompts, active learning's samples and items,
# the eval leakage check): a dotted path to a callable list[str] -> (n, d) array. MiniLM, offline.
TUNELOOP_EMBEDDER = os.environ.get("TUNELOOP_EMBEDDER", "llm.embeddings.minilm_embedder")

# --- Active learning (annotation.active_learning; README "Active learning") ---------------------
# Retrain a project's quality model after this many new reviewer decisions (a project may override).
TUNELOOP_AL_RETRAIN_EVERY = int(os.environ.get("TUNELOOP_AL_RETRAIN_EVERY", "50"))
# Signal weights of the priority, JSON, e.g. {"entropy": 1, "feedback": 2}; unnamed signals keep theirs.
TUNELOOP_AL_WEIGHTS = json.loads(os.environ.get("TUNELOOP_AL_WEIGHTS", "{}") or "{}")
# Cosine similarity at or above which a sample is a near-duplicate of a reviewed or selected one.
TUNELOOP_AL_DUPLICATE_COSINE = float(os.environ.get("TUNELOOP_AL_DUPLICATE_COSINE", "0.95"))
# Samples a scoring worker claims at a time (several workers share a backlog chunk by chunk).
TUNELOOP_AL_CHUNK_SIZE = int(os.environ.get("TUNELOOP_AL_CHUNK_SIZE", "32"))
# Queue priority of items made from selected samples (higher than imported items: front of the queue).
TUNELOOP_AL_ITEM_PRIORITY = int(os.environ.get("TUNELOOP_AL_ITEM_PRIORITY", "1000"))

# --- Evaluation (evaluation/; README "Evaluation and promotion") ---------------------------------
# Cosine at or above which an eval prompt is a near-duplicate of a training prompt (leakage).
TUNELOOP_EVAL_LEAKAGE_COSINE = float(os.environ.get("TUNELOOP_EVAL_LEAKAGE_COSINE", "0.9"))
# Forgetting suite: a drop of more than this many points against the base is flagged.
TUNELOOP_EVAL_FORGETTING_TOLERANCE = float(os.environ.get("TUNELOOP_EVAL_FORGETTING_TOLERANCE", "2.0"))

# Log lines: "text" (Python's default, for a terminal; the demo's default) or "json" (one object a line:
# time, level, logger, message, request_id, exception; annotation.core.logs) for a log collector.
TUNELOOP_LOG_FORMAT = os.environ.get("TUNELOOP_LOG_FORMAT", "text").strip().lower()
if TUNELOOP_LOG_FORMAT not in {"text", "json"}:
    from django.core.exceptions import ImproperlyConfigured  # deferred: only a bad value needs it

    raise ImproperlyConfigured(f"TUNELOOP_LOG_FORMAT must be 'text' or 'json', not {TUNELOOP_LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
        "json": {"()": "annotation.core.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": TUNELOOP_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
