"""Read-only, like annotation.admin: changes go through the app, where they are checked and audited."""

from django.contrib import admin

from annotation.core.admin import ReadOnly

from .models import Consensus, PreferencePair


@admin.register(Consensus)
class ConsensusAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("item", "criterion", "rule", "outcome", "confidence", "margin", "n_votes")


@admin.register(PreferencePair)
class PreferencePairAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("item", "criterion", "chosen", "rejected", "confidence", "margin", "status")
    list_filter = ("status", "criterion")
