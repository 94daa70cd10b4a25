"""Lecture: ensembles (the course's Ensemble notes: bagging and boosting), on breast cancer.

Claim: bagging 25 decision trees beats one of its trees by >= 2 points of test accuracy; averaging
members' probabilities never costs likelihood (the averaged-probability NLL is at most the members'
mean NLL: Jensen's inequality, -log is convex); and AdaBoost's bound on its training error,
prod_m Z_m (the exponential loss), falls every round and stays above the training error — the
training error itself need not fall every round, and the table counts the rounds where it rises —
while our SAMME loop matches scikit-learn's AdaBoostClassifier within 1 point.

Arms (every model a gymlab run on ``gymlab/BreastCancer-v0``, standardised features, 70/15/15):

- ``one tree``: the 25 bagged trees below, each on its own (the mean of their accuracies);
- ``25 bagged trees``: learner ``trees``, ``method=bagging``, fully grown trees, each on a
  bootstrap resample, averaged probabilities;
- ``one MLP`` and ``5 bagged MLPs``: the supervised learner with ``members=5`` (each MLP on its own
  bootstrap resample), the members alone and their averaged probabilities;
- ``AdaBoost``: learner ``trees``, ``method=adaboost`` (SAMME), 50 decision stumps; per round the
  training error, the chosen stump's weighted error and the bound prod Z;
- ``AdaBoost (scikit-learn)``: ``AdaBoostClassifier`` with the same 50 stumps, the reference.

Figures: ``test_acc``; ``test_nll`` where there are probabilities; for AdaBoost ``bound_rises``
(rounds where prod Z rose: 0 if the claim holds), ``bound_below_error`` (rounds where the bound fell
below the training error: 0), ``error_rises`` (rounds where the training error rose) and
``weighted_error_rises`` (rounds where the new stump's weighted error rose: it tends to 1/2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.supervised import Supervised
from agents.trees import Trees
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised import TASKS, load_task, register_task
from supervised.kinds import cross_entropy_loss

TASK = "breast-cancer"
ENV_ID = "gymlab/BreastCancer-v0"
TREES = 25
MLPS = 5
STUMPS = 50


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)  # (569, 30) features, (569,) 0 = malignant, 1 = benign


def declare_task() -> None:
    """Register breast cancer for this session when gymlab does not declare it (at run time, not at
    import, so that importing the lectures leaves the registry as it is)."""
    if TASK not in TASKS:
        register_task(TASK, _breast_cancer, "classification", standardise=True,
                      description="scikit-learn's breast cancer (Wisconsin) diagnosis, standardised")  # fmt: skip


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of argmax predictions equal to the labels: (..., B, C), (B,)."""
    return float((logits.argmax(dim=-1) == labels).float().mean())


def nll(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean negative log-likelihood of the labels (B,) under logits (B, C)."""
    return float(cross_entropy_loss(logits, labels).mean())


def rises(values) -> int:
    """How many times a sequence goes up from one round to the next (beyond rounding)."""
    return int((np.diff(np.asarray(values, dtype=np.float64)) > 1e-12).sum())


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: bagged trees, bagged MLPs, our AdaBoost and scikit-learn's, on one split."""
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.tree import DecisionTreeClassifier

    declare_task()
    train, test = load_task(TASK, "train"), load_task(TASK, "test")
    x, y = torch.as_tensor(test.x.copy()), torch.as_tensor(test.y.copy())  # (N, 30), (N,)
    figures: dict[str, dict[str, float]] = {}

    bagged = Trees(ENV_ID, seed=seed, method="bagging", members=TREES, max_depth=0)
    bagged.learn(run_dir=out / "bagged-trees")
    with torch.no_grad():
        tree_probabilities = bagged.model.member_probabilities(x)  # (K, N, 2)
        ensemble_logits = bagged.model(x)
    figures["one tree"] = {"test_acc": accuracy(tree_probabilities, y)}
    figures[f"{TREES} bagged trees"] = {"test_acc": accuracy(ensemble_logits, y)}
    first_k = [accuracy(tree_probabilities[:k].mean(dim=0), y) for k in range(1, TREES + 1)]

    mlps = Supervised(ENV_ID, seed=seed, net="mlp", hidden=[64], members=MLPS, batch_size=32, learning_rate=1e-3,
                      epochs=10 if quick else 30, patience=8, weight_decay=1e-3)  # fmt: skip
    mlps.learn(run_dir=out / "bagged-mlps")
    with torch.no_grad():
        member_logits, ensemble_logits = mlps.model.member_outputs(x), mlps.model(x)  # (K, N, 2), (N, 2)
    figures["one MLP"] = {"test_acc": accuracy(member_logits, y),
                          "test_nll": float(np.mean([nll(logits, y) for logits in member_logits]))}  # fmt: skip
    figures[f"{MLPS} bagged MLPs"] = {"test_acc": accuracy(ensemble_logits, y), "test_nll": nll(ensemble_logits, y)}

    boosted = Trees(ENV_ID, seed=seed, method="adaboost", members=STUMPS, max_depth=1)
    boosted.learn(run_dir=out / "adaboost")
    history = boosted.history
    bound = np.cumprod(history["factor"])  # prod of Z over the rounds so far
    train_error = np.asarray(history["train_error"])
    with torch.no_grad():
        figures["AdaBoost"] = {
            "test_acc": accuracy(boosted.model(x), y),
            "test_nll": nll(boosted.model(x), y),
            "train_error": float(train_error[-1]),
            "bound_rises": rises(bound),
            "bound_below_error": int((bound < train_error - 1e-12).sum()),
            "error_rises": rises(train_error),
            "weighted_error_rises": rises(history["error"]),
        }
    reference = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=STUMPS, random_state=seed)
    reference.fit(train.x, train.y)
    probabilities = torch.as_tensor(reference.predict_proba(test.x))
    figures["AdaBoost (scikit-learn)"] = {
        "test_acc": accuracy(probabilities, y),
        "test_nll": nll(probabilities.log(), y),
    }

    rounds = np.arange(1, len(train_error) + 1)
    panels = [
        Panel(
            "AdaBoost (SAMME) on the train split, per round",
            {
                "training error": (rounds, train_error),
                "bound prod Z": (rounds, bound),
                "stump's weighted error": (rounds, history["error"]),
            },
            xlabel="round",
            ylabel="error",
            log_y=True,
        ),  # fmt: skip
        Panel(
            "bagging: test accuracy of the first k trees",
            {
                "averaged probabilities": (np.arange(1, TREES + 1), first_k),
                "one tree (mean)": ([1, TREES], [figures["one tree"]["test_acc"]] * 2),
            },
            xlabel="trees",
            ylabel="test accuracy",
        ),  # fmt: skip
    ]
    return Trial(figures, panels, runs=[str(out / name) for name in ("bagged-trees", "bagged-mlps", "adaboost")])


def condition(table: Table) -> bool:
    """Means: bagged trees >= one tree + 0.02. Every seed: bagged MLPs' NLL <= their members' mean NLL;
    AdaBoost's bound never rises nor falls below the training error; |ours - scikit-learn's| <= 0.01."""
    boost, reference = table.values["AdaBoost"], table.values["AdaBoost (scikit-learn)"]
    return (
        table.mean(f"{TREES} bagged trees", "test_acc") >= table.mean("one tree", "test_acc") + 0.02
        and all(
            e <= m for e, m in zip(table.values[f"{MLPS} bagged MLPs"]["test_nll"], table.values["one MLP"]["test_nll"])
        )
        and max(boost["bound_rises"]) == 0
        and max(boost["bound_below_error"]) == 0
        and all(abs(a - b) <= 0.01 for a, b in zip(boost["test_acc"], reference["test_acc"]))
    )


LECTURE = register(
    Lecture(
        name="ensemble",
        homework="Ensemble notes: bagging and boosting",
        claim=f"On breast cancer, {TREES} bagged trees beat one of their trees by >= 2 points; averaged probabilities "
        "have an NLL <= the members' mean (Jensen); AdaBoost's training-error bound prod Z falls every round "
        "(the training error itself may rise) and our SAMME matches scikit-learn's within 1 point.",
        arms=(
            "one tree",
            f"{TREES} bagged trees",
            "one MLP",
            f"{MLPS} bagged MLPs",
            "AdaBoost",
            "AdaBoost (scikit-learn)",
        ),  # fmt: skip
        experiment=experiment,
        condition=condition,
        condition_text=f"mean test accuracy: {TREES} bagged trees >= one tree + 0.02; on every seed: {MLPS} bagged "
        "MLPs' test NLL <= their members' mean NLL, AdaBoost's prod Z never rises and stays >= its training error, "
        "and |AdaBoost test accuracy - scikit-learn's| <= 0.01",
    )
)
