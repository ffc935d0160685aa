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
# config/gunicorn.conf.py (gthread: each thread keeps its own persistent database connection, SQLite
# in WAL mode by default); the demo is quiet: no access log, warnings only.
WEB_BIND="$HOST:$PORT" WEB_WORKERS="${WEB_WORKERS:-2}" WEB_THREADS="${WEB_THREADS:-8}" \
    WEB_GRACEFUL_TIMEOUT="${WEB_GRACEFUL_TIMEOUT:-10}" WEB_ACCESS_LOG="${WEB_ACCESS_LOG:-0}" \
    WEB_LOG_LEVEL="${WEB_LOG_LEVEL:-warning}" .venv/bin/gunicorn -c config/gunicorn.conf.py &
WEB=$!
trap 'kill $WEB $WORKER 2>/dev/null; wait $WEB $WORKER 2>/dev/null' EXIT INT TERM
echo "Starting Tuneloop (web server and Celery worker)..."
# Say where it is only once it answers.
for _ in $(seq 1 120); do
    if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "http://$HOST:$PORT/login/" 2>/dev/null; then
        echo
        echo "Tuneloop is serving at http://$HOST:$PORT/   (Ctrl-C stops it; Celery worker log: $DATA/celery.log)"
        echo
        break
    fi
    kill -0 $WEB 2>/dev/null || { echo "the web server stopped; see the messages above" >&2; exit 1; }
    sleep 0.5
done
wait $WEB
