"""`manage.py demo_comparisons`: add comparisons to the demo project (run `manage.py demo` first).

From the demo project's SFT prompts: `--pairs` comparisons of the existing SFT response against a
variant the same model samples at a higher temperature, and `--nway` three-way comparisons with two
variants. Generated in batches of `--batch-size` prompts, each batch written through the comparison
import path as soon as it is sampled, with a progress line and an ETA on stderr; an interrupted run keeps
the batches it finished. Prompts that already have their comparison are skipped before the model loads,
so a second run adds nothing and takes seconds. When the model cannot be loaded it says so and adds
nothing.
"""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.core.progress import progress_line
from annotation.demo import data as demo_data
from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import ItemKind, Membership, Project, Role
from llm import generate, generation_params, load_model

TEMPERATURES = (1.0, 1.3)


def comparison_id(item) -> str:
    return f"cmp-{item.external_id or item.pk}"


class Command(BaseCommand):
    help = "Add ~20 pairwise and 5 three-way comparisons to the demo project (needs `manage.py demo`)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--project", type=int, default=None, help="Project id (default: the demo project)."
        )
        parser.add_argument(
            "--model", default=None, help="Model name or path (default: the project base model)."
        )
        parser.add_argument("--pairs", type=int, default=20)
        parser.add_argument("--nway", type=int, default=5)
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument(
            "--batch-size", type=int, default=8, help="Prompts sampled, then imported, at a time."
        )

    def handle(self, *args, project=None, model=None, pairs=20, nway=5, max_new_tokens=64, batch_size=8, **o):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if project is not None:
            target = Project.objects.filter(pk=project).first()
        else:
            target = Project.objects.filter(name=demo_data.PROJECT_NAME).order_by("id").first()
        if target is None:
            raise CommandError("No demo project: run `manage.py demo` first (or pass --project ID).")
        sources = list(
            target.items.filter(kind=ItemKind.SFT)
            .prefetch_related("responses")
            .order_by("id")[: pairs + nway]
        )
        sources = [item for item in sources if item.responses.all()]
        if not sources:
            raise CommandError(f"Project {target.name!r} has no SFT items to build comparisons from.")
        # (item, number of variants): one for a pair, two for a three-way comparison.
        wanted = [(item, 1) for item in sources[:pairs]] + [
            (item, 2) for item in sources[pairs : pairs + nway]
        ]
        there = set(
            target.items.filter(
                kind=ItemKind.COMPARISON, external_id__in=[comparison_id(i) for i, _ in wanted]
            ).values_list("external_id", flat=True)
        )
        todo = [(item, n) for item, n in wanted if comparison_id(item) not in there]
        if not todo:
            self.stdout.write(
                f"Nothing to add: all {len(wanted)} comparison(s) are already in {target.name!r}. "
                f"Open /projects/{target.pk}/compare/"
            )
            return
        actor = self._actor(target)

        model = model or target.base_model or settings.TUNELOOP_DEFAULT_BASE_MODEL
        started = time.monotonic()
        try:
            lm, tokenizer = load_model(model, cache_dir=settings.TUNELOOP_MODEL_CACHE)
        except Exception as exc:  # noqa: BLE001 - any load failure: say so, add nothing
            self.stderr.write(
                f"Skipped: the model {model!r} could not be used ({type(exc).__name__}: {exc}). "
                "No comparisons were added; install the bundled model (make models) or pass --model PATH."
            )
            return
        self.stdout.write(f"Loaded {model} in {time.monotonic() - started:.1f} s.")

        total = sum(n for _, n in todo)
        done, created, duplicates = 0, 0, 0
        started = time.monotonic()
        self._progress(done, total, started)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            variants = {}
            for k, temperature in enumerate(TEMPERATURES):
                items = [item for item, n in batch if n > k]
                if not items:
                    continue
                sampling = dict(temperature=temperature, top_p=0.95, seed=(1 + k) * 10_000 + start)
                texts = generate(
                    lm,
                    tokenizer,
                    [item.messages for item in items],
                    max_new_tokens=max_new_tokens,
                    batch_size=batch_size,
                    **sampling,
                )
                params = generation_params(max_new_tokens=max_new_tokens, **sampling)
                for item, text in zip(items, texts, strict=True):
                    variants[(item.pk, temperature)] = (text, params)
                done += len(items)
                self._progress(done, total, started)
            result = self._import(target, actor, batch, variants, model)
            created, duplicates = created + result.created, duplicates + result.duplicates
        self._progress(done, total, started, final=True)
        self.stdout.write(
            self.style.SUCCESS(f"Added {created} comparison(s) to {target.name!r} (id {target.pk}); ")
            + f"{duplicates + len(there)} already there. Open /projects/{target.pk}/compare/"
        )

    def _progress(self, done, total, started, final=False):
        """One progress line on stderr: redrawn in place on a terminal, a line per batch otherwise."""
        line = progress_line("sampling", done=done, total=total, elapsed=time.monotonic() - started)
        plain = lambda text: text  # noqa: E731 - no error colour for a progress line
        if self.stderr.isatty():
            self.stderr.write("\r" + line, style_func=plain, ending="\n" if final else "")
        elif not final:
            self.stderr.write(line, style_func=plain)
        self.stderr.flush()

    def _import(self, target, actor, batch, variants, model):
        lines = []
        for item, n in batch:
            original = item.responses.all()[0]
            responses = [
                {
                    "text": original.text,
                    "model": original.model_name,
                    "model_version": original.model_version,
                    "generation_params": original.generation_params,
                }
            ]
            for temperature in TEMPERATURES[:n]:
                text, params = variants[(item.pk, temperature)]
                if not text.strip():
                    break
                responses.append(
                    {
                        "text": text,
                        "model": original.model_name or model,
                        "model_version": f"t{temperature:g}",
                        "generation_params": params,
                    }
                )
            if len(responses) < 2:
                continue
            lines.append(
                json.dumps({"messages": item.messages, "responses": responses, "id": comparison_id(item)})
            )
        if not lines:
            return import_services.ImportResult()
        parsed = parse_items("\n".join(lines), kind=ItemKind.COMPARISON)
        if not parsed.ok:
            raise CommandError("; ".join(str(e) for e in parsed.errors[:5]))
        return import_services.import_items(
            project=target, actor=actor, records=parsed.records, source="demo_comparisons"
        )

    def _actor(self, project):
        membership = (
            Membership.objects.filter(project=project, role__in=[Role.ADMIN, Role.LEAD])
            .select_related("user")
            .order_by("role", "id")
            .first()
        )
        if membership is None:
            raise CommandError("The project has no admin or lead to import as.")
        return membership.user
