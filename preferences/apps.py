from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"

    def ready(self):
        # deferred: the kind imports the models, which Django loads only after every app config
        from annotation.kinds import registry

        from .kinds import COMPARISON

        registry.register(COMPARISON)
