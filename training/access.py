"""Who may do what in training: the action names (registered with annotation.core.permissions in
TrainingConfig.ready()) and the check the write paths share."""

from annotation.core.errors import Forbidden
from annotation.core.permissions import can

VIEW_ACTION = "view_training"  # lead and up (training/apps.py registers both)
TRAIN_ACTION = "train"  # lead and up


def require_train(user, project) -> None:
    """Raise Forbidden unless `user` may train models in `project`."""
    if not can(user, TRAIN_ACTION, project):
        raise Forbidden("Your role does not allow you to train models in this project.")
