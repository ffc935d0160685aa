"""gunicorn settings of the web processes: `gunicorn -c config/gunicorn.conf.py` (the app is named
here). Every value can be changed from the environment; the defaults suit one host behind a proxy.

  WEB_BIND                 address(es), comma-separated          127.0.0.1:8000
  WEB_WORKERS              processes                             the CPU count (at least 2)
  WEB_THREADS              threads per process (gthread)         8
  WEB_TIMEOUT              seconds before a silent worker is restarted                  300
  WEB_GRACEFUL_TIMEOUT     seconds a stopping worker may finish its requests            30
  WEB_KEEPALIVE            seconds a keep-alive connection waits for its next request   5
  WEB_MAX_REQUESTS         requests before a worker is replaced (0: never)              5000
  WEB_MAX_REQUESTS_JITTER  random extra requests, so workers are not replaced together  500
  WEB_PRELOAD              1: load the app once in the master, fork workers from it     1
  WEB_ACCESS_LOG           1: one access-log line per request on stdout; 0: none        1
  WEB_LOG_LEVEL            gunicorn's own log level                                     info
  FORWARDED_ALLOW_IPS      proxies whose X-Forwarded-* headers are trusted              127.0.0.1

Log lines follow TUNELOOP_LOG_FORMAT (config/settings.py): with `json`, each worker writes gunicorn's
access and error lines as JSON objects (annotation.core.logs.AccessJsonFormatter), as the app does.
gthread: each thread keeps its own persistent database connection (DB_CONN_MAX_AGE).

Preloading (WEB_PRELOAD=1, the default): the master imports Django and the app once and forks the
workers from it, so a worker (at start, and each time max_requests replaces one) costs a fork, not a
fresh import of everything (~1.2 s of CPU each on a 2-core host: at 240 requests/s and 2000 requests
per worker that was ~7% of the machine; benchmarks/README.md, session 8). The master opens
no database connection or cache client; `when_ready` closes any anyway before the first fork, so no
worker shares a socket. A deploy of new code restarts the server: with preloading, HUP re-forks the
workers from the code the master loaded (set WEB_PRELOAD=0 to reload on HUP instead).
"""

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, "") or default)


wsgi_app = "config.wsgi:application"
bind = [b.strip() for b in os.environ.get("WEB_BIND", "127.0.0.1:8000").split(",") if b.strip()]
worker_class = "gthread"
workers = _int("WEB_WORKERS", max(2, os.cpu_count() or 1))
threads = _int("WEB_THREADS", 8)
# gthread: the timeout restarts a worker whose main loop stops answering, not a slow request; long
# requests (an import under TUNELOOP_IMPORT_TASK_BYTES, an inline export) keep running.
timeout = _int("WEB_TIMEOUT", 300)
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 30)
keepalive = _int("WEB_KEEPALIVE", 5)
max_requests = _int("WEB_MAX_REQUESTS", 5000)
max_requests_jitter = _int("WEB_MAX_REQUESTS_JITTER", max_requests // 10)
# The proxy in front terminates TLS and sets X-Forwarded-Proto (TUNELOOP_HTTPS=1 trusts it).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-" if os.environ.get("WEB_ACCESS_LOG", "1").strip() not in ("0", "false", "no", "off") else None
errorlog = "-"
preload_app = os.environ.get("WEB_PRELOAD", "1").strip() not in ("0", "false", "no", "off")
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
# gunicorn 23+'s control socket lives at one path per user: several servers on a host would share it.
control_socket_disable = True


def when_ready(server):
    """In the master, before the first worker is forked: nothing the workers inherit may share a socket."""
    if not server.cfg.preload_app:
        return
    from django.core.cache import caches  # deferred: the app is loaded (preload) when this runs
    from django.db import connections  # deferred: as above

    connections.close_all()
    caches.close_all()


def post_worker_init(worker):
    """The app is loaded (Django's settings with it): write gunicorn's lines as the app writes its own."""
    import logging  # deferred: a gunicorn hook, run in each worker

    from django.conf import settings  # deferred: loaded with the app, after this file is read

    from annotation.core.logs import AccessJsonFormatter  # deferred: as above

    if settings.TUNELOOP_LOG_FORMAT != "json":
        return
    for name in ("gunicorn.access", "gunicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(AccessJsonFormatter())
