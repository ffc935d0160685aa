"""Shared types of the interchange imports (Label Studio, TRL preference datasets). Pure Python.

An interchange import yields the usual `ItemRecord`s (fed to the existing import service) plus, per
record, the judgments another team already made: `ExternalJudgment`s. They keep the other tool's
annotator as an imported pseudonym ("ls:17"), never a name or an email, and record their `source`, so
the Django side can keep them out of our annotators' agreement figures unless a lead says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotation.kinds import registry

from .parse import ParseResult


@dataclass
class ExternalJudgment:
    """One judgment made outside Tuneloop.

    SFT items: `decision` is "accept" | "edit" | "reject" (`edited_text` for "edit").
    Comparisons: `ranking` is groups of response indices (into the record's `responses`), best first,
    ties in one group; `outcome` is "win" or "tie".
    """

    annotator: str
    source: str
    decision: str = ""
    edited_text: str = ""
    ranking: list[list[int]] = field(default_factory=list)
    outcome: str = ""
    scores: dict = field(default_factory=dict)
    comment: str = ""
    duration_seconds: float | None = None
    external_id: str = ""
    created_at: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class InterchangeResult(ParseResult):
    """`ParseResult` plus `judgments[i]`, the external judgments of `records[i]`."""

    judgments: list[list[ExternalJudgment]] = field(default_factory=list)

    def fail(self):
        """All-or-nothing: with any error, no record and no judgment is kept."""
        if self.errors:
            self.records, self.judgments = [], []
        return self


def ranked_kind() -> str:
    """The kind an imported item with 2..N ranked responses becomes: the registered kind whose rows
    list their responses (preferences registers it). ValueError when none is registered."""
    name = registry.listing_responses()
    if name is None:
        raise ValueError(
            "No item kind with several responses is registered (is the preferences app installed?)."
        )
    return name
