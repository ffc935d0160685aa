"""The web process never imports the heavy ML libraries at start-up: a fresh interpreter sets up
Django, imports the URL conf and every views / api module of every app, and none of torch,
transformers, trl, peft, datasets or sentence_transformers may be loaded. They load in the worker
(training runs, snapshot embeddings) or on first use."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "sentence_transformers")
APPS = ("annotation", "preferences", "training", "evaluation")
ROOT = Path(__file__).resolve().parent.parent

SCRIPT = f"""
import importlib, json, os, pkgutil, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
import config.urls  # noqa: F401
imported = ["config.urls"]
for app in {APPS!r}:
    package = importlib.import_module(app)
    for info in pkgutil.walk_packages(package.__path__, app + "."):
        parts = info.name.split(".")
        if any(p in ("views", "api", "urls", "api_urls") or p.startswith(("views_", "api_")) for p in parts[1:]):
            importlib.import_module(info.name)
            imported.append(info.name)
print(json.dumps({{"imported": imported, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def web_start_up() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_web_process_imports_no_heavy_library():
    result = web_start_up()
    assert {"training.views", "training.api", "config.urls"} <= set(result["imported"])
    assert result["heavy"] == [], f"imported at web start-up: {result['heavy']}"
