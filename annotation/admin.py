from django.contrib import admin

from .models import (
    Assignment,
    AuditEvent,
    Item,
    Judgment,
    Membership,
    Project,
    Response,
    Rubric,
    RubricVersion,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "overlap", "lease_minutes", "created_at")
    inlines = [MembershipInline]


@admin.register(RubricVersion)
class RubricVersionAdmin(admin.ModelAdmin):
    list_display = ("rubric", "number", "created_at")
    readonly_fields = ("criteria",)


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "state", "priority", "active_count", "submitted_count")
    list_filter = ("kind", "state", "project")
    inlines = [ResponseInline]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "annotator", "state", "leased_until", "submitted_at")
    list_filter = ("state",)


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "annotator", "decision", "rubric_version", "is_current", "created_at")

    def has_change_permission(self, request, obj=None):
        return False  # append-only


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "project", "verb", "object_type", "object_id")
    list_filter = ("verb",)

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(Rubric)
admin.site.register(Membership)
