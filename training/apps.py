from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"

    def ready(self):
        # deferred: permissions imports models, which Django loads only after every AppConfig
        from annotation.core.permissions import register_actions

        # snapshots, runs and the model registry are the leads' work
        register_actions({"view_training": "lead", "train": "lead"})

        # deferred: backup reads models, which Django loads only after every AppConfig
        from annotation.core.backup import register_path_columns

        # paths into TUNELOOP_DATA_DIR, moved by a restore under another data dir
        register_path_columns("training.TrainingRun", "output_dir")
        register_path_columns("training.ModelVersion", "adapter_path")
        register_path_columns("training.ExportJob", "file_path")

        # deferred: the job registries read models, which Django loads only after every AppConfig
        from annotation.core.health import register_heartbeats

        from .exports import EXPORTS  # deferred: as above
        from .worker import RUNS  # deferred: as above

        # /healthz's worker age counts a running training or export job's heartbeat
        register_heartbeats(RUNS.newest_heartbeat)
        register_heartbeats(EXPORTS.newest_heartbeat)
