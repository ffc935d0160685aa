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


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
DEBUG = env_bool("DJANGO_DEBUG", True)
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
    "annotation",
    "preferences",
    "training",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers wait for each other instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
MEDIA_ROOT = DATA_DIR / "media"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotation:project-list"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotation.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tuneloop API",
    "DESCRIPTION": "Annotation, preferences, agreement, training and evaluation for LLM fine-tuning.",
    "VERSION": "0.1.0",
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
# Cached derived figures (the leaderboard's fit) and the per-project versions that invalidate them
# (annotation.core.versions), shared by every web and worker process: a table in the database by
# default (`manage.py createcachetable`, run by `make migrate`); CACHE_URL=redis://host:6379/2 uses Redis.
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
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
# How often beat recomputes the agreement report of projects with new judgments or adjudications.
TUNELOOP_AGREEMENT_REFRESH_SECONDS = float(os.environ.get("TUNELOOP_AGREEMENT_REFRESH_SECONDS", "600"))
# How often beat embeds new production samples, retrains due quality models and recomputes priorities.
TUNELOOP_AL_REFRESH_SECONDS = float(os.environ.get("TUNELOOP_AL_REFRESH_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
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
    # Export jobs whose worker died are requeued with a higher attempt and start over.
    "recover-stale-exports": {"task": "training.maintenance.recover_stale_exports", "schedule": 120.0},
}

# --- Tuneloop -------------------------------------------------------------------------------
TUNELOOP_DEFAULT_BASE_MODEL = os.environ.get("TUNELOOP_BASE_MODEL", "smollm2-135m-instruct")
TUNELOOP_MODEL_CACHE = os.environ.get("TUNELOOP_MODEL_CACHE", str(DATA_DIR / "models"))
TUNELOOP_DEFAULT_LEASE_MINUTES = int(os.environ.get("TUNELOOP_LEASE_MINUTES", "30"))
TUNELOOP_RUN_STALE_SECONDS = int(os.environ.get("TUNELOOP_RUN_STALE_SECONDS", "600"))
TUNELOOP_CANCEL_POLL_SECONDS = float(os.environ.get("TUNELOOP_CANCEL_POLL_SECONDS", "2"))
# Largest import upload (page and API), in bytes.
TUNELOOP_MAX_IMPORT_BYTES = int(os.environ.get("TUNELOOP_MAX_IMPORT_BYTES", str(100 * 1024 * 1024)))
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
