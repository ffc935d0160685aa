"""`manage.py demo`: users, a project with guidelines and a rubric, and ~50 SFT items whose responses
the bundled SmolLM2 generated. Idempotent: a second run adds nothing.

Generated responses are cached in `<DATA_DIR>/demo_responses.jsonl`, keyed by model and
conversation, so later runs (and `--no-generate`) skip the model. The repository ships the bundled
model's responses (`annotation/fixtures/demo_responses.jsonl`, made by this command with `--fresh`)
so a first `make demo` takes seconds, not minutes; `--fresh` ignores them and runs the model.
"""

import hashlib
import json
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.demo import data as demo_data
from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import Membership, Project
from annotation.projects import services as project_services
from llm import bundled_model, generate, generation_params, load_model

CACHE_NAME = "demo_responses.jsonl"
SHIPPED_CACHE = Path(__file__).resolve().parents[2] / "fixtures" / CACHE_NAME
SAMPLING = {"temperature": 0.7, "top_p": 0.9, "seed": 0}


class Command(BaseCommand):
    help = "Create a demo project with users, a rubric and model-generated SFT items (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--model",
            default=None,
            help="Model name, local path or Hugging Face id (default: the project base model setting).",
        )
        parser.add_argument("--limit", type=int, default=None, help="Use only the first N demo prompts.")
        parser.add_argument(
            "--no-generate",
            action="store_true",
            help="Never run the model: use cached responses, fail if any is missing.",
        )
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Ignore the responses shipped with Tuneloop and generate with the model.",
        )
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--max-new-tokens", type=int, default=96)

    def handle(
        self,
        *args,
        model=None,
        limit=None,
        no_generate=False,
        fresh=False,
        batch_size=8,
        max_new_tokens=96,
        **opts,
    ):
        model = model or settings.TUNELOOP_DEFAULT_BASE_MODEL
        bundled = bundled_model(model)
        model_name = bundled.name if bundled else model
        prompts = demo_data.PROMPTS[: limit if limit is not None and limit >= 0 else None]
        cache_path = Path(settings.DATA_DIR) / CACHE_NAME
        cached = {} if fresh else _read_cache(SHIPPED_CACHE, model_name)
        cached.update(_read_cache(cache_path, model_name))
        missing = [p for p in prompts if _key(model_name, p) not in cached]
        if missing and no_generate:
            raise CommandError(
                f"--no-generate: {len(missing)} of {len(prompts)} demo prompts have no cached response "
                f"from {model_name} in {cache_path}. Run `manage.py demo` without --no-generate once."
            )
        if missing:
            self._generate(missing, model, model_name, cache_path, cached, batch_size, max_new_tokens)

        rows = [(p, cached[_key(model_name, p)]) for p in prompts]
        empty = [p["id"] for p, entry in rows if not entry["response"].strip()]
        if empty:
            self.stderr.write(
                f"Skipping {len(empty)} prompt(s) the model answered with nothing: {', '.join(empty)}"
            )
        rows = [(p, entry) for p, entry in rows if entry["response"].strip()]

        with transaction.atomic():
            users = _ensure_users()
            project, created_project = _ensure_project(users, model_name)
            result = _import(project, users["lead"], rows, model_name)

        self._report(users, project, created_project, result, len(rows))

    # --- steps ------------------------------------------------------------------------------

    def _generate(self, prompts, model, model_name, cache_path, cached, batch_size, max_new_tokens):
        self.stdout.write(f"Loading {model} (the first use of the bundled model converts it, ~30 s)...")
        started = time.monotonic()
        lm, tokenizer = load_model(model, cache_dir=settings.TUNELOOP_MODEL_CACHE)
        self.stdout.write(f"Loaded in {time.monotonic() - started:.1f} s on {lm.device}.")
        params = generation_params(max_new_tokens=max_new_tokens, **SAMPLING)
        started = time.monotonic()

        def progress(done, total):
            elapsed = time.monotonic() - started
            self.stdout.write(f"  generated {done} of {total} responses ({elapsed:.0f} s)")
            self.stdout.flush()

        texts = generate(
            lm,
            tokenizer,
            [demo_data.conversation(p) for p in prompts],
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            on_batch=progress,
            **SAMPLING,
        )
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with cache_path.open("a", encoding="utf-8") as handle:
            for prompt, text in zip(prompts, texts, strict=True):
                entry = {
                    "key": _key(model_name, prompt),
                    "model": model_name,
                    "prompt_id": prompt["id"],
                    "messages": demo_data.conversation(prompt),
                    "response": text,
                    "generation_params": params,
                }
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
                cached[entry["key"]] = entry
        self.stdout.write(f"Generated {len(prompts)} responses in {time.monotonic() - started:.1f} s.")

    def _report(self, users, project, created_project, result, total):
        out = self.stdout
        out.write("")
        out.write(
            f"Project {project.name!r} (id {project.pk}) {'created' if created_project else 'already there'}; "
            f"{result.created} new item(s), {total - result.created} already present."
        )
        out.write("`make demo` serves it next; later, `make serve` (scripts/serve.sh) starts it again.")
        out.write("Demo accounts (username / password):")
        for username, (password, role) in demo_data.USERS.items():
            user = users[username]
            note = (
                ""
                if user.check_password(password)
                else "   (existing user whose password differs; not reset)"
            )
            out.write(f"  {username:<11} / {password:<20} {role or 'superuser'}{note}")


def _key(model_name: str, prompt: dict) -> str:
    blob = json.dumps([model_name, demo_data.conversation(prompt)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _read_cache(path: Path, model_name: str) -> dict[str, dict]:
    """Cached entries of `model_name` by key; a later line wins. Unreadable lines are ignored."""
    entries = {}
    if not path.exists():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            isinstance(entry, dict)
            and entry.get("model") == model_name
            and isinstance(entry.get("response"), str)
        ):
            entries[entry["key"]] = entry
    return entries


def _ensure_users():
    """The demo accounts; existing ones are left as they are (passwords included)."""
    User = get_user_model()
    users = {}
    for username, (password, role) in demo_data.USERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            if role is None:
                user = User.objects.create_superuser(username, f"{username}@example.com", password)
            else:
                user = User.objects.create_user(username, f"{username}@example.com", password)
        users[username] = user
    return users


def _ensure_project(users, model_name):
    admin = users["admin"]
    project = Project.objects.filter(name=demo_data.PROJECT_NAME).order_by("id").first()
    created = project is None
    if created:
        project = project_services.create_project(
            name=demo_data.PROJECT_NAME,
            created_by=admin,
            description=demo_data.PROJECT_DESCRIPTION,
            guidelines=demo_data.GUIDELINES,
            base_model=model_name,
            overlap=2,
        )
    for username, (_, role) in demo_data.USERS.items():
        if role is None:
            continue
        user = users[username]
        if not Membership.objects.filter(project=project, user=user, role=role).exists():
            project_services.set_membership(project=project, actor=admin, user=user, role=role)
    if project.current_rubric_version() is None:
        project_services.create_rubric_version(
            project=project,
            actor=users["lead"],
            criteria=demo_data.RUBRIC_CRITERIA,
            instructions=demo_data.RUBRIC_INSTRUCTIONS,
            rubric_name=demo_data.RUBRIC_NAME,
            changelog="Demo rubric.",
        )
    return project, created


def _import(project, lead, rows, model_name):
    """Import through the public path (parse_items + import_items); skip ids the project already has."""
    present = set(project.items.exclude(external_id="").values_list("external_id", flat=True))
    fresh = [(p, entry) for p, entry in rows if p["id"] not in present]
    if not fresh:
        return import_services.ImportResult()
    lines = []
    for prompt, entry in fresh:
        row = {
            "id": prompt["id"],
            "messages": entry["messages"],
            "response": entry["response"],
            "model": model_name,
            "metadata": {"category": prompt["category"], "demo": True},
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    parsed = parse_items("\n".join(lines), fmt="jsonl")
    if not parsed.ok:
        raise CommandError("Demo items failed to parse: " + "; ".join(str(e) for e in parsed.errors[:5]))
    by_id = {p["id"]: entry for p, entry in fresh}
    for record in parsed.records:  # SFT rows carry no generation params in the file format; attach them
        record.responses[0]["generation_params"] = by_id[record.external_id]["generation_params"]
    return import_services.import_items(project=project, actor=lead, records=parsed.records, source="demo")
