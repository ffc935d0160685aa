from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self):
        # The SFT kind imports the models, which load after the app configs: imported here.
        from annotation.kinds import registry
        from annotation.kinds.sft import SFT

        registry.register(SFT)
