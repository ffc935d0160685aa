from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"

    def ready(self):
        from annotation.kinds.registry import register_kind

        from . import services

        register_kind(
            "comparison",
            validate=services.validate_comparison_payload,
            on_submitted=services.on_comparison_submitted,
        )
