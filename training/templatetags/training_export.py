"""`{% export_layouts "dpo" as layouts %}`: the export layouts a snapshot kind takes, for export forms
on pages of apps that may not import training (the curated pairs page)."""

from django import template

from training.export.layouts import LAYOUTS

register = template.Library()


@register.simple_tag
def export_layouts(kind: str) -> list[str]:
    return [name for name, layout in LAYOUTS.items() if kind in layout.kinds]
