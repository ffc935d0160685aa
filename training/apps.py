from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"

    def ready(self):
        # deferred: permissions imports models, which Django loads only after every AppConfig
        from annotation.core.permissions import register_actions

        # snapshots, runs and the model registry are the leads' work
        register_actions({"view_training": "lead", "train": "lead"})
