"""Detection figures as the literature reports them, and threshold calibration on a validation split.

Label 1 = synthetic (positive), 0 = real. ``scores`` are P(synthetic).
"""

from __future__ import annotations

import numpy as np


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is missing."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def average_precision(labels, scores) -> float:
    labels = np.asarray(labels)
    if labels.min(initial=1) == labels.max(initial=0) or len(labels) == 0:
        return float("nan")
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, scores))


def tpr_at_fpr(labels, scores, fpr: float) -> float:
    """The largest true-positive rate whose false-positive rate on these reals is ≤ ``fpr``
    (threshold strictly above the ⌊fpr·n⌋+1-th highest real score)."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    pos, neg = scores[labels == 1], np.sort(scores[labels == 0])[::-1]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(neg)))
    bar = neg[allowed] if allowed < len(neg) else -np.inf
    return float((pos > bar).mean())


def threshold_for_fpr(real_scores, target_fpr: float) -> float:
    """The lowest threshold (``score >= t`` is synthetic) at which at most ``target_fpr`` of
    ``real_scores`` are flagged: just above the ⌊target·n⌋+1-th highest real score."""
    neg = np.sort(np.asarray(real_scores, np.float64))[::-1]
    if len(neg) == 0:
        return 0.5
    allowed = int(np.floor(target_fpr * len(neg)))
    bar = neg[allowed] if allowed < len(neg) else 0.0
    return float(min(1.0, np.nextafter(bar, np.inf)))


def summary(labels, scores, threshold: float) -> dict:
    """ACC, AUC, AP, TPR at 1 % and 5 % FPR, real TNR and fake TPR at ``threshold``, counts."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    flagged = scores >= threshold
    real, fake = labels == 0, labels == 1
    return {
        "n_real": int(real.sum()),
        "n_fake": int(fake.sum()),
        "acc": float((flagged == fake).mean()) if len(labels) else float("nan"),
        "auc": roc_auc(labels, scores),
        "ap": average_precision(labels, scores),
        "tpr_at_1pct_fpr": tpr_at_fpr(labels, scores, 0.01),
        "tpr_at_5pct_fpr": tpr_at_fpr(labels, scores, 0.05),
        "real_tnr": float((~flagged[real]).mean()) if real.any() else float("nan"),
        "fake_tpr": float(flagged[fake].mean()) if fake.any() else float("nan"),
    }
