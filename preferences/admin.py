from django.contrib import admin

from .models import Consensus, PreferencePair


@admin.register(Consensus)
class ConsensusAdmin(admin.ModelAdmin):
    list_display = ("item", "criterion", "rule", "outcome", "confidence", "margin", "n_votes")


@admin.register(PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ("item", "criterion", "chosen", "rejected", "confidence", "margin", "status")
    list_filter = ("status", "criterion")
