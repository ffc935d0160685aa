from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_login_failed


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self):
        # deferred: the SFT kind and the models load only after every app config (Django's app loading)
        from annotation.core import auth  # deferred: it imports the token and user models
        from annotation.core.backup import register_path_columns  # deferred: it reads the models
        from annotation.core.permissions import register_actions
        from annotation.kinds import registry
        from annotation.kinds.sft import SFT
        from annotation.models import Role  # deferred: models load after the app configs
        from annotation.people import (  # deferred: they read the models, which load after the app configs
            lockout,
            sessions,
        )

        registry.register(SFT)
        # paths into TUNELOOP_DATA_DIR, moved by a restore under another data dir
        register_path_columns("annotation.Project", "current_model_path")
        register_path_columns("annotation.QualityModel", "path")
        register_path_columns("annotation.ImportJob", "path")
        auth.connect()
        user_logged_in.connect(sessions.note_on_login, dispatch_uid="tuneloop.people.note_on_login")
        user_logged_in.connect(lockout.on_logged_in, dispatch_uid="tuneloop.people.lockout_success")
        user_login_failed.connect(lockout.on_login_failed, dispatch_uid="tuneloop.people.lockout_failure")
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
