"""The Django admin, read-only: a place to inspect rows, not to change them.

Every change goes through the app's pages and API (the services of each package), where permissions are
checked, invariants kept (a rubric version that judgments use never changes, judgments are
append-only, queue counters match assignments) and the audit trail records who did what. An admin
form would bypass all three, so it only shows.
"""

from django.contrib import admin

from annotation.core.admin import ReadOnly
from annotation.models import (
    Adjudication,
    Assignment,
    AuditEvent,
    Invitation,
    Item,
    Judgment,
    Membership,
    Project,
    Response,
    Rubric,
    RubricVersion,
)


class MembershipInline(ReadOnly, admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("name", "overlap", "lease_minutes", "created_at")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "project", "role", "created_at")
    list_filter = ("role",)


@admin.register(Rubric)
class RubricAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("name", "project")


@admin.register(RubricVersion)
class RubricVersionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("rubric", "number", "created_at")


class ResponseInline(ReadOnly, admin.StackedInline):
    model = Response
    extra = 0


@admin.register(Item)
class ItemAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "project", "kind", "state", "priority", "active_count", "submitted_count")
    list_filter = ("kind", "state", "project")
    inlines = [ResponseInline]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "item", "annotator", "state", "leased_until", "submitted_at")
    list_filter = ("state",)


@admin.register(Judgment)
class JudgmentAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "item", "annotator", "decision", "rubric_version", "is_current", "created_at")


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "item", "lead", "decision", "category", "created_at")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "actor", "project", "verb", "object_type", "object_id")
    list_filter = ("verb",)


@admin.register(Invitation)
class InvitationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("username", "project", "role", "created_by", "expires_at", "accepted_at", "revoked_at")
    exclude = ("token_hash",)
