from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"

    def ready(self):
        # Models load after apps: the kind (which imports them) is imported here, not at module level.
        from annotation.kinds import registry

        from .kinds import COMPARISON

        registry.register(COMPARISON)
