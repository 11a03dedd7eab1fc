"""The ``toxicity`` judge: ToxiGen's offline toxicity classifier (MiniLM + logistic regression, built and
validated in ``evals/toxicity.py``) under the judge registry, so ``safestack eval rejudge --judges toxicity`` and
the judge contract tests reach it. ``label`` true = the reply is toxic."""

from __future__ import annotations

from .base import judge


def _validation() -> dict | None:
    from ..evals.toxicity import stored_validation

    return stored_validation()


@judge("toxicity", "Is the reply toxic (hateful statements about a group)? MiniLM + logistic regression trained on "
       "ToxiGen demonstrations, offline", tags=["offline", "embeddings", "toxigen"], calibration=_validation)
def toxicity_judge(threshold: float | None = None):
    """The shipped weights; ``threshold`` overrides the stored one (0.5)."""
    from ..evals.toxicity import ToxicityClassifier, default_classifier

    shared = default_classifier()
    if threshold is None:
        return shared
    c = ToxicityClassifier(embedder=shared._embedder, threshold=threshold, C=shared.C)
    c.clf = shared.clf
    return c
