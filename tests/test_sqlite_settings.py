"""The embedded default's SQLite connection: WAL, synchronous=NORMAL, a busy timeout, IMMEDIATE
write transactions (config/settings.py SQLITE_OPTIONS), checked on a real database file."""

from django.conf import settings
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper


def test_sqlite_file_opens_in_wal_with_normal_sync_and_a_busy_timeout(tmp_path, django_db_blocker):
    config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "t.sqlite3")}
    config["OPTIONS"] = dict(settings.SQLITE_OPTIONS)
    wrapper = DatabaseWrapper(
        connections.configure_settings({"default": {**config}, "check": config})["check"], alias="check"
    )
    with django_db_blocker.unblock():
        try:
            with wrapper.cursor() as cursor:
                pragmas = {}
                for name in ("journal_mode", "synchronous", "busy_timeout"):
                    cursor.execute(f"PRAGMA {name}")
                    pragmas[name] = cursor.fetchone()[0]
            assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000}
            assert wrapper.transaction_mode == "IMMEDIATE"
        finally:
            wrapper.close()
