"""Who may do what in evaluation: the action names (registered in EvaluationConfig.ready()) and the
check the write paths share. Promotion needs training's `train` action (training.registry.promote)."""

from annotation.core.errors import Forbidden
from annotation.core.permissions import can

VIEW_ACTION = "view_evaluation"  # lead and up
EVALUATE_ACTION = "evaluate"  # lead and up


def require_evaluate(user, project) -> None:
    if not can(user, EVALUATE_ACTION, project):
        raise Forbidden("Your role does not allow you to evaluate models in this project.")
