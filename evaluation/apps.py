from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self):
        # deferred: permissions imports models, which Django loads only after every AppConfig
        from annotation.core.permissions import register_actions

        # eval sets, runs and reports are the leads' work; promotion too (training's "train" action)
        register_actions({"view_evaluation": "lead", "evaluate": "lead"})

        # deferred: backup reads models, which Django loads only after every AppConfig
        from annotation.core.backup import register_path_columns

        register_path_columns("evaluation.Promotion", "previous_path")  # a path into TUNELOOP_DATA_DIR

        # deferred: the registry hooks read models, which Django loads only after every AppConfig
        from training import registry_links

        from . import lineage, promotion

        # the registry page links each version to its report; a registered version gets its model card
        for hooks, hook in ((registry_links.LINKS, lineage.registry_links),
                            (registry_links.REGISTERED, lineage.write_model_card_quietly),
                            (registry_links.GUARDS, promotion.registry_guard)):  # fmt: skip
            if hook not in hooks:
                hooks.append(hook)

        # deferred: the eval job registry reads models, which Django loads only after every AppConfig
        from annotation.core.health import register_heartbeats

        from .worker import EVALS  # deferred: as above

        # /healthz's worker age counts a running eval's heartbeat
        register_heartbeats(EVALS.newest_heartbeat)
