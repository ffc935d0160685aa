from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self):
        # deferred: permissions imports models, which Django loads only after every AppConfig
        from annotation.core.permissions import register_actions

        # eval sets, runs and reports are the leads' work; promotion too (training's "train" action)
        register_actions({"view_evaluation": "lead", "evaluate": "lead"})
