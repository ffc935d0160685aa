#!/usr/bin/env bash
# Serve the app with gunicorn (WEB_WORKERS processes x WEB_THREADS threads, static files through
# WhiteNoise) and a real Celery worker (and beat) on the configured broker; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
DATA=${TUNELOOP_DATA_DIR:-var}
mkdir -p "$DATA"
# the embedded demo: DEBUG and a generated secret key are allowed (config/settings.py, TUNELOOP_DEMO)
export TUNELOOP_DEMO=${TUNELOOP_DEMO:-1}
.venv/bin/celery -A config worker -B -Q celery,gpu --concurrency 1 --loglevel INFO \
    --schedule "$DATA/celerybeat-schedule" >"$DATA/celery.log" 2>&1 &
WORKER=$!
# A worker is running: agreement reports are computed by it, not in the request.
export TUNELOOP_ASYNC_AGREEMENT=${TUNELOOP_ASYNC_AGREEMENT:-1}
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
echo
echo "Tuneloop is running at http://$HOST:$PORT/   (Celery worker log: $DATA/celery.log)"
echo
# gthread: each thread keeps its own persistent database connection (SQLite in WAL mode by default).
.venv/bin/gunicorn config.wsgi -b "$HOST:$PORT" -k gthread -w "${WEB_WORKERS:-2}" \
    --threads "${WEB_THREADS:-8}" --timeout 300 --graceful-timeout 10 --log-level warning
