#!/usr/bin/env bash
# Serve the app with a real Celery worker (and beat) on the configured broker; Ctrl-C stops both.
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
.venv/bin/python manage.py runserver "$HOST:$PORT" --noreload
