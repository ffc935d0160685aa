"""A web process loads its views and the broker's transport when it starts, not in the first
request that queues a task (issue 13: the first "Train DPO" click waited for the imports)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import sys
import config.wsgi  # noqa: F401
from config.celery import app
with app.connection_for_write() as connection:
    transport = type(connection.transport).__module__
print(all(m in sys.modules for m in ("training.views", "evaluation.views", "annotation.quality.views")))
print(transport in BEFORE)
"""


def test_the_wsgi_application_warms_up_views_and_the_broker_transport(tmp_path):
    env = {**os.environ, "TUNELOOP_DATA_DIR": str(tmp_path), "TUNELOOP_DEMO": "1", "PYTHONPATH": str(ROOT)}
    env.pop("CELERY_BROKER_URL", None)  # the embedded default: kombu's SQLAlchemy transport
    code = "import sys\n" + "import config.wsgi  # noqa\nBEFORE = set(sys.modules)\n" + PROBE
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"], out.stdout
