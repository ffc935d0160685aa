"""The web process installs and runs without the worker stack: pyproject's `worker` extra holds the
model libraries, annotation.core.worker_stack names their modules, and tests/web_only_checks.py runs
in an interpreter whose site-packages hide that extra's packages (symlinks to everything else), as a
host installed with `pip install .` has them: `manage.py check`, pages, the queue API, a training run
queued for the gpu queue, and a model needed in the request answering 503 instead of a 500."""

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from annotation.core.worker_stack import WORKER_MODULES

ROOT = Path(__file__).resolve().parent.parent


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def worker_distributions() -> set[str]:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["worker"]
    return {_norm(re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]) for req in extra}


def top_level_names(dist) -> set[str]:
    names = set()
    for f in dist.files or []:
        head = f.parts[0]
        if head in ("..", "__pycache__") or head.endswith((".pth",)):
            continue
        names.add(head.removesuffix(".py"))
    return names


def test_the_worker_extra_and_the_web_processes_list_name_the_same_modules():
    dists = {_norm(d.metadata["Name"]): d for d in importlib.metadata.distributions()}
    modules = set()
    for name in worker_distributions():
        assert name in dists, f"{name} (pyproject's worker extra) is not installed here"
        modules |= {m for m in top_level_names(dists[name]) if not m.endswith((".dist-info", ".libs"))}
    assert WORKER_MODULES <= modules
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not {_norm(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in base} & worker_distributions()


def web_only_site(tmp_path: Path) -> Path:
    """A site-packages of symlinks to this one's entries, minus the worker extra's distributions and
    the GPU runtimes torch brings (triton, nvidia-*)."""
    hidden_dists = worker_distributions() | {"triton"}
    hidden = set()
    for dist in importlib.metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in hidden_dists or name.startswith("nvidia-"):
            hidden |= top_level_names(dist)
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.removesuffix(".py") not in hidden:
            (site_dir / entry.name).symlink_to(entry)
    return site_dir


BOOT = (
    "import site, sys; site.addsitedir(sys.argv[1]); sys.path.insert(0, sys.argv[2]); "
    "import pytest; sys.exit(pytest.main(sys.argv[3:]))"
)


@pytest.mark.slow
def test_the_web_install_works_without_the_worker_stack(tmp_path):
    site_dir = web_only_site(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env.update(
        TUNELOOP_DATA_DIR=str(tmp_path / "data"),
        CELERY_BROKER_URL="memory://",  # a broker nobody consumes: the task must only be published
        CELERY_RESULT_BACKEND="cache+memory://",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            BOOT,
            str(site_dir),
            str(ROOT),
            str(ROOT / "tests" / "web_only_checks.py"),
            "-p",
            "pytest_django.plugin",
            "--nomigrations",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert re.search(r"\b5 passed\b", out), out[-3000:]
