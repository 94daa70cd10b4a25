"""K-fold cross-validation of the supervised learner, as scikit-learn's ``cross_validate`` does it.

    from agents.crossval import cross_validate
    result = cross_validate("gymlab/Wine-v0", folds=5, run_dir="runs/wine-cv", hidden=[16])
    print(result)  # accuracy 0.968 ± 0.026 over 5 folds (mean ± std of the held-out folds)

Fold k trains a :class:`~agents.supervised.Supervised` learner on the train split less fold k
(the ``kfold`` family of :mod:`supervised.crossval`; stratified for classification) for a fixed
number of epochs, keeps its last weights, and scores it on fold k. The held-out fold never
chooses anything (no early stopping, no best-weights pick), so the mean is an honest estimate
of the configuration's score; the test split is not touched. Each fold is an ordinary run
directory (``RUN_DIR/fold-<k>``) when ``run_dir`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.supervised import Supervised

FIXED_BY_CROSS_VALIDATION = ("patience", "keep_best")
"""Settings that would let the held-out fold choose the weights; cross_validate sets them."""


@dataclass
class CrossValidation:
    """The held-out scores of K folds."""

    metric: str
    """The task kind's metric (``accuracy``, ``mse``): what :meth:`mean` and :meth:`std` read."""
    scores: list[dict[str, float]]
    """Per fold, its ``evaluate(split="val")`` figures on the held-out fold (f1_macro, roc_auc, ...)."""
    runs: list[str]
    """Run directory of each fold (empty without ``run_dir``)."""

    def values(self, name: str | None = None) -> np.ndarray:
        """Figure ``name`` (default: the metric) of every fold: (K,)."""
        return np.array([fold[name or self.metric] for fold in self.scores])

    def mean(self, name: str | None = None) -> float:
        """Mean over the folds."""
        return float(self.values(name).mean())

    def std(self, name: str | None = None) -> float:
        """Standard deviation over the folds (numpy's, ddof=0, as scikit-learn's examples report it)."""
        return float(self.values(name).std())

    def __str__(self) -> str:
        return f"{self.metric} {self.mean():.3f} ± {self.std():.3f} over {len(self.scores)} folds"


def cross_validate(
    env_id: str,
    folds: int = 5,
    seed: int = 0,
    run_dir: str | Path | None = None,
    steps: int | None = None,
    fold_seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    **settings: Any,
) -> CrossValidation:
    """Train ``folds`` supervised learners on ``env_id`` (``settings`` on top of its preset, e.g.
    ``learning_rate=1e-3``; ``steps`` as ``learn``'s total_steps, default the config's epochs)
    and score each on its held-out fold. ``fold_seed`` deals the train split into folds;
    ``seed`` seeds every learner."""
    if folds < 2:
        raise ValueError(f"--folds must be at least 2 (each fold is held out once), got {folds}")
    fixed = [key for key in FIXED_BY_CROSS_VALIDATION if key in settings]
    if fixed:
        raise ValueError(
            f"cross_validate trains a fixed number of epochs and keeps the last weights, so the held-out fold "
            f"chooses nothing; leave out {', '.join(fixed)}"
        )
    scores, runs = [], []
    for fold in range(folds):
        kwargs = {**(env_kwargs or {}), "family": "kfold", "folds": folds, "fold": fold, "seed": fold_seed}
        agent = Supervised(env_id, seed=seed, env_kwargs=kwargs, patience=0, keep_best=False, **settings)
        fold_dir = None if run_dir is None else Path(run_dir) / f"fold-{fold}"
        agent.learn(steps, run_dir=fold_dir)
        scores.append(agent.evaluate(split="val"))
        if fold_dir is not None:
            runs.append(str(fold_dir))
    return CrossValidation(agent.train_set.kind.metric, scores, runs)
