"""The quality model: calibrated logistic regression on sentence embeddings, predicting whether
reviewers accept a response (accepted SFT outputs and preference winners = 1; rejected or edited
outputs and losers = 0). Pure: numpy and scikit-learn (imported on first use), no Django.
"""

import numpy as np

MIN_LABELS = 6  # below this (or with one class) there is nothing to learn


def fit(X, y, *, seed: int = 0, heldout: float = 0.2, calibrate: bool = True):
    """Fit on `X` (n, d) and `y` in {0, 1}. Returns (model, held-out accuracy or None, n_labels).

    A stratified `heldout` share is kept out to measure accuracy (None when a class has fewer than
    2 labels); the returned model is then refit on every label. Calibration (sigmoid, 3-fold) is used
    when each class has at least 3 labels in the fit, plain logistic regression otherwise."""
    # deferred: scikit-learn loads only where a model is trained (workers, the benchmark)
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    classes, counts = np.unique(y, return_counts=True)
    if len(y) < MIN_LABELS or len(classes) < 2:
        raise ValueError(
            f"Need at least {MIN_LABELS} labels of both classes (have {len(y)}, {len(classes)} class)."
        )

    def make(labels):
        base = LogisticRegression(C=1.0, max_iter=2000)
        if calibrate and np.bincount(labels, minlength=2).min() >= 3:
            return CalibratedClassifierCV(base, cv=3, method="sigmoid")
        return base

    accuracy = None
    if counts.min() >= 2 and len(y) >= 10:
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=heldout, random_state=seed, stratify=y)
        if len(np.unique(y_tr)) == 2:
            model = make(y_tr).fit(X_tr, y_tr)
            accuracy = float((model.predict(X_te) == y_te).mean())
    model = make(y).fit(X, y)
    return model, accuracy, int(len(y))


def predict(model, X) -> np.ndarray:
    """P(accepted) per row."""
    X = np.asarray(X, dtype=np.float64)
    if len(X) == 0:
        return np.zeros(0)
    return model.predict_proba(X)[:, list(model.classes_).index(1)]


def accuracy(model, X, y) -> float:
    return float((model.predict(np.asarray(X, dtype=np.float64)) == np.asarray(y)).mean())
