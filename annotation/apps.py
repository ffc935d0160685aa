from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self):
        # deferred: the SFT kind and the models load only after every app config (Django's app loading)
        from annotation.core import auth  # deferred: it imports the token and user models
        from annotation.core.permissions import register_actions
        from annotation.kinds import registry
        from annotation.kinds.sft import SFT
        from annotation.models import Role  # deferred: models load after the app configs

        registry.register(SFT)
        auth.connect()
        register_actions(
            {
                # active learning (annotation.active_learning): production samples are the leads' business
                "view_production": Role.LEAD,
                "ingest_samples": Role.LEAD,
                "manage_ingest_tokens": Role.LEAD,
                "select_samples": Role.LEAD,
                "configure_active_learning": Role.LEAD,
            }
        )
