"""One annotator task page per item kind: show the caller's next item, submit, skip.

Each kind's page (SFT review in annotation.review, the kinds other apps register in theirs) differs
in its context, its templates and how a POST becomes a submission; the task itself comes from the one
builder (annotation.kinds.task.build_task); the flow around them is the same and lives here:
the lease comes from services.next_assignment, a submit or skip only touches the caller's own
assignment of this kind (anything else is 404), a failed submit re-renders the task with the
values and errors inline (nothing typed is lost), and an htmx request gets the next task's
partial while a plain form post is redirected back to the page.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.core.errors import NotFound, ServiceError
from annotation.core.permissions import can, role_for
from annotation.core.web import is_htmx, project_for
from annotation.kinds.base import Kind
from annotation.queue import services
from annotation.queue.selectors import annotator_progress


def rushed_note(duration_seconds: float | None, minimum: int) -> str:
    """The gentle note the next task shows after a rushed submit."""
    took = f"{round(duration_seconds or 0, 1):g} s"
    return f"That one took {took}; the project asks for at least {minimum} s per item."


def seconds(value) -> float:
    """A non-negative number of seconds from a form value; 0 when it is not one."""
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


class TaskFlow:
    """Subclass per kind: set the attributes and implement context() and parse()."""

    kind: Kind  # the registered kind this page serves (its noun is used in notices and 404s)
    page_url: str  # the URL name of the task page (takes the project pk)
    full_template: str  # the whole page
    partial_template: str  # the task alone, swapped in by htmx

    # --- per kind ---------------------------------------------------------------------------

    def context(self, request, project, assignment, *, values, errors) -> dict:
        """The kind's own context for `assignment` (None: the queue is empty for the caller); the
        shared context (progress, values, errors...) is already computed."""
        raise NotImplementedError

    def parse(self, post) -> dict:
        """The keyword arguments of services.submit_judgment from the POSTed form."""
        raise NotImplementedError

    def saved_notice(self, judgment) -> str:
        return f"Saved {self.kind.noun} #{judgment.item_id}."

    # --- shared -----------------------------------------------------------------------------

    def render(
        self, request, project, assignment, *, values=None, errors=None, notice="", note="", status=200
    ):
        values = values or {}
        errors = errors or {}
        full = not is_htmx(request)
        progress = annotator_progress(project, request.user, kind=self.kind.name)
        is_lead = can(request.user, "view_dashboard", project)
        context = {
            "project": project,
            # blind review: which model wrote a response is for leads only (and for all when it is off)
            "show_model_names": is_lead or not project.blind_review,
            "progress": progress,
            "left": progress["total"] - progress["done"],  # the counter: "3 done · 48 left"
            "notice": notice,
            "rushed_note": note,
            "guidelines": project.guidelines,
            "errors": errors,
            "values": values,
            "elapsed": seconds(values.get("duration_seconds")),
            "task": None,
            **self.context(request, project, assignment, values=values, errors=errors),
        }
        if full:
            context.update(role=role_for(request.user, project), is_lead=is_lead)
        template = self.full_template if full else self.partial_template
        return render(request, template, context, status=status)

    def next(self, request, project):
        return services.next_assignment(project=project, user=request.user, kind=self.kind.name)

    def own(self, request, pk):
        """The caller's own assignment of this kind; NotFound for anything else."""
        assignment = services.get_assignment_for(assignment_id=pk, user=request.user)
        if assignment.item.kind != self.kind.name:
            raise NotFound(f"No such {self.kind.noun}.")
        if not can(request.user, "view_project", assignment.project):
            raise NotFound("No such project.")
        return assignment

    @staticmethod
    def message(request, exc):
        return render(request, "annotation/_message.html", {"error": exc}, status=exc.status)

    def page_view(self, request, pk):
        project = project_for(request, pk, "annotate")
        try:
            assignment = self.next(request, project)
        except ServiceError as exc:
            return render(request, "annotation/error.html", {"error": exc}, status=exc.status)
        return self.render(request, project, assignment)

    def submit_view(self, request, pk):
        try:
            assignment = self.own(request, pk)
        except ServiceError as exc:
            return self.message(request, exc)
        project = assignment.project
        values = self.parse(request.POST)
        try:
            judgment = services.submit_judgment(assignment=assignment, user=request.user, **values)
        except ServiceError as exc:  # shown inline with what was typed; nothing is lost
            errors = exc.errors or {"__all__": [exc.message]}
            return self.render(request, project, assignment, values=values, errors=errors, status=exc.status)
        note = rushed_note(judgment.duration_seconds, project.min_seconds_per_item) if judgment.rushed else ""
        return self.after(request, project, self.saved_notice(judgment), messages.success, note=note)

    def skip_view(self, request, pk):
        try:
            assignment = self.own(request, pk)
            services.skip_assignment(
                assignment=assignment, user=request.user, reason=request.POST.get("reason", "")
            )
        except ServiceError as exc:
            return self.message(request, exc)
        notice = f"Skipped {self.kind.noun} #{assignment.item_id}."
        return self.after(request, assignment.project, notice, messages.info)

    def after(self, request, project, notice, level, *, note=""):
        """After a submit or skip: the next task (htmx), or back to the page with a message; `note`
        (a rushed submit's gentle note) goes with it."""
        if not is_htmx(request):
            level(request, notice)
            if note:
                messages.info(request, note, extra_tags="rushed-note")
            return redirect(self.page_url, pk=project.pk)
        try:
            assignment = self.next(request, project)
        except ServiceError as exc:
            return self.message(request, exc)
        return self.render(request, project, assignment, notice=notice, note=note)

    def views(self):
        """(page, submit, skip) view functions for urls.py."""
        return (
            login_required(self.page_view),
            login_required(require_POST(self.submit_view)),
            login_required(require_POST(self.skip_view)),
        )
