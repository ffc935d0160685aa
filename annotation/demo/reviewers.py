"""Simulated reviewers for demos and benchmarks: a project with a team of annotator accounts, and a
loop that has each of them work through the queue of two-response items like a person at the compare page
(`services.next_assignment`, the order shown to them, `services.submit_judgment`), answering by a
rubric function with a small chance of answering the other way (people disagree a little).

    project, lead = create_project(name="Loop", lead=user, overlap=3, criteria=[...])
    team = make_team(project, lead, flips=(0.08, 0.08, 0.15), prefix="loop-7")
    judged = judge_pairs(project, team, prefer=rubric, seed=0)

`prefer(messages, texts)` returns (index of the better text or None for a tie, strength 1-3).
Every write goes through annotation's own services, so the queue, the lifecycle, routing and the
audit trail see ordinary reviewers.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from annotation.kinds import registry
from annotation.kinds.slots import slot_letter
from annotation.kinds.task import order_shown
from annotation.models import Project, Role
from annotation.projects import services as project_services
from annotation.queue import services as queue_services

Prefer = Callable[[list[dict], list[str]], tuple[int | None, int]]


@dataclass
class Reviewer:
    user: object
    flip: float  # chance of answering against the rubric

    @property
    def name(self) -> str:
        return self.user.username


def create_project(*, name: str, lead, criteria: list[dict], instructions: str = "", **fields) -> Project:
    """A project led by `lead` (its admin) with one rubric version."""
    project = project_services.create_project(name=name, created_by=lead, **fields)
    project_services.create_rubric_version(
        project=project, actor=lead, criteria=criteria, instructions=instructions
    )
    return project


def make_team(project: Project, lead, *, flips: tuple[float, ...], prefix: str) -> list[Reviewer]:
    """One annotator account per flip probability (`<prefix>-reviewer-<n>`, no usable password)."""
    User = get_user_model()
    team = []
    for n, flip in enumerate(flips, start=1):
        user, created = User.objects.get_or_create(username=f"{prefix}-reviewer-{n}"[:150])
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        project_services.set_membership(project=project, actor=lead, user=user, role=Role.ANNOTATOR)
        team.append(Reviewer(user=user, flip=float(flip)))
    return team


def judge_pairs(project: Project, team: list[Reviewer], *, prefer: Prefer, seed: int = 0,
                      limit: int | None = None) -> dict:  # fmt: skip
    """Each reviewer in turn takes their next two-response item and answers it by `prefer`,
    flipping a win to the other response with their probability, until nobody has anything left (or
    `limit` judgments). Returns counts: {"judgments", "flipped", "ties", "by_reviewer"}."""
    kind = registry.listing_responses()  # the many-responses kind (registered by preferences)
    rng = random.Random(seed)
    counts = {"judgments": 0, "flipped": 0, "ties": 0, "by_reviewer": {r.name: 0 for r in team}}
    active = list(team)
    while active and (limit is None or counts["judgments"] < limit):
        for reviewer in list(active):
            assignment = queue_services.next_assignment(project=project, user=reviewer.user, kind=kind)
            if assignment is None:
                active.remove(reviewer)
                continue
            order = order_shown(assignment)
            texts = dict(assignment.item.responses.filter(pk__in=order).values_list("id", "text"))
            if len(order) != 2:  # this reviewer answers pairs only; leave the item to others
                queue_services.skip_assignment(assignment=assignment, user=reviewer.user, reason="not a pair")
                continue
            best, strength = prefer(assignment.item.messages, [texts[rid] for rid in order])
            if best is None:
                payload = {"choice": "tie"}
                counts["ties"] += 1
            else:
                if rng.random() < reviewer.flip:
                    best = 1 - best
                    counts["flipped"] += 1
                payload = {"choice": slot_letter(best), "strength": max(1, min(3, int(strength)))}
            queue_services.submit_judgment(
                assignment=assignment, user=reviewer.user, payload=payload, duration_seconds=30.0
            )
            counts["judgments"] += 1
            counts["by_reviewer"][reviewer.name] += 1
            if limit is not None and counts["judgments"] >= limit:
                break
    return counts
