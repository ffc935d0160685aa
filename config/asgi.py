import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A server process: production mode unless TUNELOOP_DEMO=1 (config/settings.py).
os.environ["DJANGO_SERVER_PROCESS"] = "1"
application = get_asgi_application()
