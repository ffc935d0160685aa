"""Read paths of the SFT review page."""


def sft_task(assignment) -> dict:
    """What an annotator sees for one SFT assignment: the conversation and the candidate response.

    Only the item's own content: never another annotator's judgment.
    """
    item = assignment.item
    response = item.responses.order_by("position").first()
    return {
        "assignment": assignment,
        "item": item,
        "messages": [
            {"role": m.get("role", ""), "content": m.get("content", "")}
            for m in (item.messages or [])
            if isinstance(m, dict)
        ],
        "response": response,
    }
