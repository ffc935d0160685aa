"""One annotator task page per item kind: show the caller's next item, submit, skip.

Each kind's page (SFT review in annotation.review, the kinds other apps register in theirs) differs
in its context, its templates and how a POST becomes a submission; the task itself comes from the one
builder (annotation.kinds.task.build_task); the flow around them is the same and lives here:
the lease comes from services.next_assignment, a submit or skip only touches the caller's own
assignment of this kind (anything else is 404), a failed submit re-renders the task with the
values and errors inline (nothing typed is lost), and an htmx request gets the next task's
partial while a plain form post is redirected back to the page.

Recovering (annotation.queue.recovery): a skip asks for a reason (SkipReason) and the page then
offers to undo it; after a submit it offers to go back to that item, its answers filled in (the next
submit supersedes). The last of these is remembered in the session, per project and kind, and done
by a POST to the page (`action` = undo_skip | back). A lead opening the page previews the next item
read-only, with no lease, until they POST `action` = annotate_myself (remembered for the session).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.core.errors import InvalidInput, NotFound, ServiceError
from annotation.core.permissions import can, role_for
from annotation.core.web import is_htmx, project_for
from annotation.kinds.base import Kind
from annotation.models import Assignment, SkipReason
from annotation.queue import recovery, services
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

    # --- recovering and previewing -----------------------------------------------------------

    def _recover_key(self, project) -> str:
        return f"recover:{self.kind.name}:{project.pk}"

    def remember(self, request, project, action: str, assignment) -> None:
        """What the page offers to take back next: "undo_skip" or "back" to `assignment`."""
        request.session[self._recover_key(project)] = {
            "action": action,
            "assignment": assignment.pk,
            "item": assignment.item_id,
        }

    @staticmethod
    def previewing(request, project) -> bool:
        """A lead looks without taking, until they choose to annotate themselves (for the session)."""
        chosen = request.session.get(f"annotate_self:{project.pk}")
        return not chosen and can(request.user, "view_dashboard", project)

    def recover_view(self, request, project):
        """The page's POST: annotate_myself, undo_skip or back (to the item just submitted)."""
        action = request.POST.get("action", "")
        if action == "annotate_myself":
            request.session[f"annotate_self:{project.pk}"] = True
            return redirect(self.page_url, pk=project.pk)
        remembered = request.session.get(self._recover_key(project)) or {}
        if action not in ("undo_skip", "back") or remembered.get("action") != action:
            exc = InvalidInput("Nothing to undo here.")
            return self.message(request, exc) if is_htmx(request) else self.error_page(request, exc)
        mine = Assignment(pk=remembered["assignment"])
        values = {}
        try:
            if action == "undo_skip":
                assignment = recovery.undo_skip(assignment=mine, user=request.user)
                notice = f"Skip undone: {self.kind.noun} #{assignment.item_id} is yours again."
            else:
                assignment, judgment = recovery.reopen(assignment=mine, user=request.user)
                values = self.kind.answer_values(judgment)
                notice = f"Back to {self.kind.noun} #{assignment.item_id}: change it and submit again."
        except ServiceError as exc:
            request.session.pop(self._recover_key(project), None)
            return self.message(request, exc) if is_htmx(request) else self.error_page(request, exc)
        request.session.pop(self._recover_key(project), None)
        return self.render(request, project, assignment, values=values, notice=notice)

    @staticmethod
    def error_page(request, exc):
        return render(request, "annotation/error.html", {"error": exc}, status=exc.status)

    # --- the page ---------------------------------------------------------------------------

    def render(
        self,
        request,
        project,
        assignment,
        *,
        values=None,
        errors=None,
        notice="",
        note="",
        status=200,
        preview=False,
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
            "preview": preview,
            "page_url": self.page_url,
            "recover": None if preview else request.session.get(self._recover_key(project)),
            "skip_reasons": SkipReason.choices,
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
        if request.method == "POST":
            return self.recover_view(request, project)
        if self.previewing(request, project):
            assignment = recovery.preview(project=project, user=request.user, kind=self.kind.name)
            return self.render(request, project, assignment, preview=True)
        try:
            assignment = self.next(request, project)
        except ServiceError as exc:
            return self.error_page(request, exc)
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
        self.remember(request, project, "back", assignment)
        return self.after(request, project, self.saved_notice(judgment), messages.success, note=note)

    def skip_view(self, request, pk):
        try:
            assignment = self.own(request, pk)
            services.skip_assignment(
                assignment=assignment, user=request.user, reason=request.POST.get("reason", "")
            )
        except ServiceError as exc:
            return self.message(request, exc)
        self.remember(request, assignment.project, "undo_skip", assignment)
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
