import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A server process: production mode unless TUNELOOP_DEMO=1 (config/settings.py).
os.environ["DJANGO_SERVER_PROCESS"] = "1"
application = get_wsgi_application()

from config.warmup import warm_up  # noqa: E402 - after Django is set up

warm_up()
