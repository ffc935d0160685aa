from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self):
        # deferred: the SFT kind imports the models, which Django loads only after every app config
        from annotation.kinds import registry
        from annotation.kinds.sft import SFT

        registry.register(SFT)
