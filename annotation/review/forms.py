"""Form parsing of the SFT review page."""


def sft_submission(post) -> dict:
    """Keyword arguments for services.submit_judgment from a review form's POST data.

    Scores come from fields named `score_<criterion key>`; blanks are left out so the service can say
    which required criterion is missing.
    """
    scores = {
        key[len("score_") :]: value
        for key, value in post.items()
        if key.startswith("score_") and value not in ("", None)
    }
    return {
        "decision": post.get("decision", ""),
        "edited_text": post.get("edited_text", ""),
        "scores": scores,
        "flags": post.getlist("flags"),
        "comment": post.get("comment", ""),
        "rubric_version_id": post.get("rubric_version") or None,
        "duration_seconds": post.get("duration_seconds") or None,
    }
