"""The dashboard's time-per-item figures maintained incrementally (`annotation.projects.timing_state`):
re-exported by `annotation.models` like the other feature tables.

Both tables hold the signed sums of every judgment *event* of a project with id <= `TimingState.through`
(a judgment counts +1, the judgment it supersedes -1), which equal the sums over the judgments that
were current at that id. `TimingState.data`: {"annotators": [[annotator id, judgments, timed
judgments, seconds, rushed, submitted]]}. `TimingCount`: how many timed judgments took exactly `seconds`, one row
per distinct duration (durations are arbitrary floats: a row per value, not a JSON histogram that
would be rewritten whole), so that the exact median is a walk over the distinct values in SQL.
"""

from django.db import models

from annotation.core.models import WatermarkState


class TimingState(WatermarkState):
    def __str__(self):
        return f"timing of project {self.project_id} through judgment {self.through}"


class TimingCount(models.Model):
    # No index of its own: the unique constraint's index leads with the project
    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    seconds = models.FloatField()
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            # the fold's upsert target, and the median's walk in order of duration (no INCLUDE: SQLite
            # would leave the whole constraint out)
            models.UniqueConstraint(fields=["project", "seconds"], name="one_timing_count_per_value")
        ]

    def __str__(self):
        return f"{self.n} judgment(s) of {self.seconds} s in project {self.project_id}"
