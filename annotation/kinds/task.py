"""The annotator's task: the order this annotator sees the responses in, and the one task payload
that the task pages (queue.task_flow) and the API (queue.api NextView) both render.

Blind by construction: the payload carries slots, texts and the conversation; the API serializer
shows only those, and a kind adds what its page needs (task_extras). Responses that are not shown
(an annotator's improved text, kept as a new response) are never part of a task.
"""

from annotation.kinds import registry
from annotation.kinds.slots import slot_letter


def order_shown(assignment, *, shown: list[int] | None = None) -> list[int]:
    """Response ids in the order this annotator sees them, by slot: the assignment's stored display
    order, restricted to shown responses; with none stored, the shown responses in canonical
    (import) order. `shown`: the shown response ids in canonical order, when the caller has them."""
    if shown is None:
        shown = getattr(assignment, "shown_response_ids", None)  # loaded with the row (submit)
    if shown is None:
        shown = list(
            assignment.item.responses.filter(shown=True).order_by("position").values_list("id", flat=True)
        )
    allowed = set(shown)
    order = [rid for rid in assignment.display_order or [] if rid in allowed]
    return order or list(shown)


def _shown_texts(assignment) -> list[tuple[int, str]]:
    """(id, text) of the item's shown responses in canonical order; free when next_assignment's pick
    brought them along (`response_texts`, shown responses only)."""
    loaded = getattr(assignment, "response_texts", None)
    if loaded is not None:
        return list(loaded)
    return list(assignment.item.responses.filter(shown=True).order_by("position").values_list("id", "text"))


def build_task(assignment, *, rubric_version=None, extras: bool = True) -> dict:
    """What the annotator sees for `assignment`: the conversation and the responses by display slot
    (never another annotator's judgment), the rubric version to apply, and the kind's extras.

    Keys: assignment, project, item (objects), messages, responses ([{slot, index, id, text}]),
    rubric_version (object or None; the project's newest unless given), then task_extras() (unless
    `extras` is False: the API's payload shows none of them).
    """
    item, project = assignment.item, assignment.project
    texts = _shown_texts(assignment)
    by_id = dict(texts)
    order = order_shown(assignment, shown=[rid for rid, _ in texts])
    task = {
        "assignment": assignment,
        "project": project,
        "item": item,
        "messages": [
            {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in item.messages or []
            if isinstance(m, dict)
        ],
        "responses": [
            {"slot": slot_letter(i), "index": i, "id": rid, "text": by_id[rid]} for i, rid in enumerate(order)
        ],
        "rubric_version": rubric_version if rubric_version is not None else project.current_rubric_version(),
    }
    if extras:
        task.update(registry.get(item.kind).task_extras(task))
    return task
