"""The house rules of the code base, checked: settings declared once, permissions registered by each
app, no app reaching into another's private names, no module over 500 lines."""

import ast
import re
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.permissions import ACTIONS, can, register_actions
from annotation.models import Item

ROOT = Path(__file__).resolve().parent.parent
APPS = ("llm", "annotation", "preferences", "training", "evaluation")


def python_files(*tops):
    for top in tops:
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


# --- settings -------------------------------------------------------------------------------


def test_tuneloop_settings_are_read_only_in_config_settings():
    """Every TUNELOOP_* knob is read from the environment in config/settings.py and nowhere else, and
    used through django.conf.settings without a second default (getattr(settings, ..., default))."""
    offenders = []
    for path in python_files(*APPS, "config"):
        if path == ROOT / "config" / "settings.py":
            continue
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), start=1):
            if re.search(r"(environ|getenv)\S*\(\s*[\"']TUNELOOP_", line) or re.search(
                r"getattr\(\s*settings\s*,\s*[\"']TUNELOOP_", line
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "read TUNELOOP_* through config/settings.py:\n" + "\n".join(offenders)


def test_every_tuneloop_setting_is_used_and_documented():
    settings_text = (ROOT / "config" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    env_names = set(re.findall(r"environ\.get\(\s*\"(TUNELOOP_\w+)\"", settings_text))
    env_names |= set(re.findall(r"env_bool\(\s*\"(TUNELOOP_\w+)\"", settings_text))
    assert env_names, "config/settings.py reads no TUNELOOP_* variable?"
    undocumented = sorted(n for n in env_names if f"`{n}`" not in readme)
    assert not undocumented, f"README's configuration table misses {undocumented}"
    setting_names = set(re.findall(r"^(TUNELOOP_\w+)\s*=", settings_text, re.M))
    code = "\n".join(p.read_text() for p in python_files(*APPS, "config") if p.name != "settings.py")
    code += settings_text.split("TUNELOOP_", 1)[0]
    unused = sorted(
        n
        for n in setting_names
        if not re.search(rf"\b{n}\b", code) and not re.search(rf"\"schedule\": {n}", settings_text)
    )
    assert not unused, f"settings declared but never used: {unused}"


@pytest.mark.django_db
def test_new_projects_take_the_operators_defaults(settings, users):
    from annotation.projects import services as project_services

    settings.TUNELOOP_DEFAULT_BASE_MODEL = "org/some-7b-instruct"
    settings.TUNELOOP_DEFAULT_LEASE_MINUTES = 7
    project = project_services.create_project(name="P", created_by=users["admin"])
    assert (project.base_model, project.lease_minutes) == ("org/some-7b-instruct", 7)
    chosen = project_services.create_project(
        name="Q", created_by=users["admin"], base_model="mine", lease_minutes=60
    )
    assert (chosen.base_model, chosen.lease_minutes) == ("mine", 60)


@pytest.mark.django_db
def test_import_size_limit_applies_to_page_and_api(settings, client, project, users):
    settings.TUNELOOP_MAX_IMPORT_BYTES = 100
    body = b"\n".join(b'{"prompt": "Question %d?", "response": "Answer."}' % i for i in range(10))
    assert len(body) > 100
    client.force_login(users["lead"])
    response = client.post(
        f"/projects/{project.pk}/import/",
        {"file": SimpleUploadedFile("big.jsonl", body), "kind": "sft", "mapping": ""},
    )
    assert response.status_code == 400
    assert b"larger than 100 bytes" in response.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['lead']).key}")
    response = api.post(
        f"/api/projects/{project.pk}/items/import/",
        {"file": SimpleUploadedFile("big.jsonl", body)},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert "100 bytes" in str(response.json())
    assert not Item.objects.filter(project=project).exists()


# --- permissions ----------------------------------------------------------------------------


def test_apps_register_their_own_actions():
    """annotation's table names no higher app's action; training registered its own in ready()."""
    source = (ROOT / "annotation" / "core" / "permissions.py").read_text()
    assert "train" not in re.findall(r"\"(\w+)\": Role\.", source)
    assert ACTIONS["train"] == "lead" and ACTIONS["view_training"] == "lead"


def test_register_actions_refuses_a_conflicting_role():
    register_actions({"annotate": "annotator"})  # the same role again: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_actions({"annotate": "admin"})
    with pytest.raises(ValueError, match="Unknown role"):
        register_actions({"new_thing": "owner"})
    assert ACTIONS["annotate"] == "annotator" and "new_thing" not in ACTIONS


@pytest.mark.django_db
def test_unknown_actions_are_errors_not_silent_denials(project, users):
    with pytest.raises(KeyError):
        can(users["lead"], "no_such_action", project)


# --- imports across apps --------------------------------------------------------------------


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def test_no_app_imports_another_apps_private_names():
    offenders = []
    for path in python_files(*APPS, "config"):
        own = path.relative_to(ROOT).parts[0]
        for line, module, names in _imports(path):
            top = module.split(".")[0]
            if top not in APPS or top == own:
                continue
            private = [n for n in names if n.startswith("_")]
            private += [p for p in module.split(".") if p.startswith("_")]
            if private:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module} {private}")
    assert not offenders, "\n".join(offenders)


# --- imports inside functions ---------------------------------------------------------------


def test_imports_inside_functions_say_why():
    """An import inside a function breaks a real cycle or defers a heavy optional dependency, and a
    comment just above (or on the statement) says which: `# deferred: ...` or `# cycle: ...`."""
    offenders = []
    for path in python_files(*APPS, "config"):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                here = lines[node.lineno - 1]
                near = lines[max(0, node.lineno - 4) : node.end_lineno]  # the comment above, or on it
                said = any(re.search(r"#.*\b(deferred|cycle)\b", ln) for ln in near)
                if not said:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {here.strip()}")
    assert not offenders, "say why (or move to the top):\n" + "\n".join(sorted(set(offenders)))


# --- size -----------------------------------------------------------------------------------

MAX_MODULE_LINES = 500


def _repository_python_files():
    """Every .py file git knows of (tracked, or new and not ignored); the tree, skipping what git would
    ignore, when this is not a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", "var", "node_modules", ".git"}
        return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_no_module_over_500_lines():
    """No Python file outside migrations is over 500 lines: split it by what it holds (a package with
    a re-exporting __init__, a sibling module, a second test file) instead."""
    files = [p for p in _repository_python_files() if "migrations" not in p.relative_to(ROOT).parts]
    assert len(files) > 50, "found too few Python files; is ROOT right?"
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in files}
    over = sorted((n, name) for name, n in sizes.items() if n > MAX_MODULE_LINES)
    assert not over, f"over {MAX_MODULE_LINES} lines:\n" + "\n".join(f"  {name}: {n}" for n, name in over)


def test_numbers_from_text_go_through_whole_number():
    """`str.isdigit()` accepts '²' and '١', and `int()` of any length overflows the database: text that
    becomes a number goes through annotation.core.numbers.whole_number (or web.query_int)."""
    allowed = {
        "annotation/core/numbers.py",
        "annotation/core/web.py",  # query_int: isascii() first
        "training/pipeline/run.py",  # checkpoint folder names the trainer wrote
        "training/pipeline/pii.py",  # digits of a \\d match: int() reads every Nd digit
    }
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files(*APPS)
        if ".isdigit()" in p.read_text() and str(p.relative_to(ROOT)) not in allowed
    ]
    assert offenders == []
