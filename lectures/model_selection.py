"""Lecture: model selection (HW1-HW2 "General guide": validation, cross-validation, hyperparameter search).

Claim: with one hyperparameter that matters (the learning rate) and one that does not (a
gradient-norm clip above every gradient norm the trainings reach, so it never acts), random
search finds a better model than a 3x3 grid of the same budget (9 trials), because the grid
tries only 3 learning rates and random search tries 9 (Bergstra & Bengio 2012). The tools the search is judged with are checked too: precision,
recall, F1 and ROC-AUC equal scikit-learn's to 1e-9; K-fold cross-validation's estimate lies
near the test score; gradient checking passes on every network gymlab builds.

Arms:

- ``grid 3x3``: learning rate x gradient-norm clip at the centres of thirds of each log range;
- ``random 9``: 9 draws, log-uniform in the same ranges (seeded per seed);
- ``metrics wine``, ``metrics breast-cancer``: the test-split figures of the best random model
  (wine, 3 classes) and of a breast-cancer model (binary), with the largest difference from
  sklearn.metrics on the same logits, over those models and weaker ones (every trial of the
  searches; a breast-cancer model after one epoch at 1e-4), whose figures are not all 1;
- ``5-fold CV``: agents.crossval on the best random configuration, against the test accuracy
  of that configuration trained on the whole train split;
- ``gradient check``: the largest relative error over every network (one row per network
  beside it, ``gradcheck <network>``).

Experiment, per seed (one repeat): every trial is a Supervised run on gymlab/Wine-v0 (an MLP of
16 units, Adam, batch 16, a fixed budget of 10 epochs, the last weights), trained from the same
seed, into ``out/<search>/<trial>``; a trial's score is the validation split's cross-entropy.

Where the range puts a grid point on the optimum the grid ties or wins: wine's best learning
rate for this budget is about 1e-2, the middle grid point of the range [1e-4, 1]. The range
here, [1e-4, 1e-1], is the one Adam's learning rates are usually searched in; its top grid
point, 10^-1.5 = 0.032, still lies in the flat bottom of the curve (0.015-0.03), so random
search wins by little (the grid's and random search's best losses are reported per seed).
With a weight decay in [1e-6, 1e-3] as the second hyperparameter, which changes the losses a
little, the grid's three trials per learning rate act as three noisy draws of it, and random
search won on 3 of 5 seeds only: the argument needs a hyperparameter that truly does not matter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from sklearn import metrics as sk

from agents.crossval import cross_validate
from agents.gradcheck import max_relative_error, network_checks
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised import load_task, metrics
from supervised.crossval import kfold

TASK = "gymlab/Wine-v0"
LEARNING_RATES = (1e-4, 1e-1)
"""log range of the hyperparameter that matters"""
GRAD_NORM_CLIPS = (10.0, 1000.0)
"""log range of the one that does not: a gradient-norm clip above every gradient norm these
trainings reach, so it never clips (``irrelevant_spread`` shows it)"""
TRIALS = 9
SETTINGS = {"net": "mlp", "hidden": [16], "batch_size": 16, "epochs": 10, "patience": 0, "keep_best": False}
FOLDS = 5
TOLERANCE = 1e-9
GRADIENT_TOLERANCE = 1e-5


def grid_points(low: float, high: float, n: int) -> np.ndarray:
    """The centres of ``n`` equal parts of [low, high] on a log scale: (n,)."""
    return np.exp(np.log(low) + (np.arange(n) + 0.5) / n * (np.log(high) - np.log(low)))


def log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """``n`` draws, uniform in log(value) between low and high: (n,)."""
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def grid_configurations() -> list[tuple[float, float]]:
    """The 3x3 grid: (learning rate, gradient-norm clip) pairs, learning rate major."""
    side = math.isqrt(TRIALS)
    return [(lr, clip) for lr in grid_points(*LEARNING_RATES, side) for clip in grid_points(*GRAD_NORM_CLIPS, side)]


def random_configurations(seed: int) -> list[tuple[float, float]]:
    """9 (learning rate, gradient-norm clip) pairs drawn log-uniformly."""
    rng = np.random.default_rng(seed)
    return list(zip(log_uniform(rng, *LEARNING_RATES, TRIALS), log_uniform(rng, *GRAD_NORM_CLIPS, TRIALS)))


def run_trial(learning_rate: float, max_grad_norm: float, seed: int, run_dir: Path) -> tuple[float, Supervised]:
    """Train one configuration into ``run_dir``: (validation cross-entropy, the learner)."""
    agent = Supervised(TASK, seed=seed, learning_rate=learning_rate, max_grad_norm=max_grad_norm, **SETTINGS)
    agent.learn(run_dir=run_dir)
    return agent.evaluate(split="val")["loss"], agent


def search(configurations, seed: int, out: Path) -> tuple[list[float], int, list[Supervised], list[str]]:
    """Every configuration trained: (validation losses, index of the best, the learners, run dirs)."""
    losses, agents, runs = [], [], []
    for i, (lr, clip) in enumerate(configurations):
        run_dir = out / f"trial{i}-lr{lr:.2e}-clip{clip:.3g}"
        loss, agent = run_trial(lr, clip, seed, run_dir)
        losses.append(loss)
        agents.append(agent)
        runs.append(str(run_dir))
    return losses, int(np.argmin(losses)), agents, runs


def sklearn_differences(logits: torch.Tensor, y: np.ndarray) -> tuple[dict[str, float], float]:
    """supervised.metrics' report of ``logits`` (N, C) and the largest |ours - sklearn's| over it."""
    ours = metrics.classification_report(logits, y)
    logits = logits.double().numpy()
    predicted = logits.argmax(1)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    theirs = {
        "precision_macro": sk.precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": sk.recall_score(y, predicted, average="macro", zero_division=0),
        "f1_macro": sk.f1_score(y, predicted, average="macro", zero_division=0),
    }
    if logits.shape[1] == 2:
        theirs.update(precision=sk.precision_score(y, predicted, zero_division=0),
                      recall=sk.recall_score(y, predicted, zero_division=0), f1=sk.f1_score(y, predicted))  # fmt: skip
        theirs["roc_auc"] = sk.roc_auc_score(y, probabilities[:, 1])
    else:
        theirs["roc_auc"] = sk.roc_auc_score(y, probabilities, multi_class="ovr", average="macro")
    if set(ours) != set(theirs):
        raise RuntimeError(f"supervised.metrics reports {sorted(ours)}, sklearn was asked for {sorted(theirs)}")
    return ours, max(abs(ours[k] - theirs[k]) for k in theirs)


def test_logits(agent: Supervised, task: str) -> tuple[torch.Tensor, np.ndarray]:
    """The learner's logits on ``task``'s test split (N, C), and the labels (N,)."""
    test = load_task(task, "test")
    with torch.no_grad():
        return agent.model(torch.tensor(test.x)), test.y


def metric_figures(agent: Supervised, task: str, others: list[Supervised] = ()) -> dict[str, float]:
    """Test accuracy, macro F1 and ROC-AUC of ``agent``, and the largest difference from sklearn
    over ``agent`` and ``others`` (learners whose figures are not all 1, so that it is not a tie of
    perfect scores)."""
    logits, y = test_logits(agent, task)
    report, difference = sklearn_differences(logits, y)
    accuracy = float((logits.argmax(1).numpy() == y).mean())
    for other in others:
        difference = max(difference, sklearn_differences(*test_logits(other, task))[1])
    return {"test_acc": accuracy, "f1_macro": report["f1_macro"], "roc_auc": report["roc_auc"],
            "sklearn_diff": difference}  # fmt: skip


def cv_figures(
    learning_rate: float, max_grad_norm: float, seed: int, out: Path, test_acc: float
) -> tuple[dict[str, float], list[str]]:
    """K-fold CV of one configuration: mean and std of the held-out folds, the configuration's test
    accuracy (trained on the whole train split), whether the folds partition the train split;
    and the folds' run directories."""
    result = cross_validate(TASK, FOLDS, seed, run_dir=out, learning_rate=learning_rate,
                            max_grad_norm=max_grad_norm, **{k: v for k, v in SETTINGS.items() if k not in ("patience", "keep_best")})  # fmt: skip
    held_out = np.concatenate([rows for _, rows in kfold("wine", FOLDS)])
    partition = len(held_out) == len(np.unique(held_out)) == len(load_task("wine", "train"))
    return (
        {"cv_acc": result.mean(), "cv_std": result.std(), "test_acc": test_acc, "folds_partition": float(partition)},
        result.runs,
    )


def by_learning_rate(configurations, losses) -> tuple[list[float], list[float]]:
    """(log10 learning rates, losses), sorted by learning rate, for a curve."""
    pairs = sorted((math.log10(lr), loss) for (lr, _), loss in zip(configurations, losses))
    return [x for x, _ in pairs], [y for _, y in pairs]


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One repeat: the grid and the random search, then the checks on the best random model."""
    grid, random = grid_configurations(), random_configurations(seed)
    grid_losses, grid_best, grid_agents, grid_runs = search(grid, seed, out / "grid")
    random_losses, random_best, random_agents, random_runs = search(random, seed, out / "random")
    figures = {
        "grid 3x3": {"best_val_loss": grid_losses[grid_best], "best_lr": grid[grid_best][0],
                     "distinct_lrs": float(len({lr for lr, _ in grid})),
                     "irrelevant_spread": float(np.ptp(np.reshape(grid_losses, (3, 3)), axis=1).max())},
        "random 9": {"best_val_loss": random_losses[random_best], "best_lr": random[random_best][0],
                     "distinct_lrs": float(len({lr for lr, _ in random})),
                     "random_wins": float(random_losses[random_best] < grid_losses[grid_best])},
    }  # fmt: skip
    trained = [*grid_agents, *random_agents]  # from a learning rate of 1e-4 (about 70% right) to the best
    figures["metrics wine"] = metric_figures(random_agents[random_best], "wine", trained)
    binary = Supervised("gymlab/BreastCancer-v0", seed=seed, **SETTINGS, learning_rate=1e-2)
    binary.learn(run_dir=out / "breast-cancer")
    short = Supervised("gymlab/BreastCancer-v0", seed=seed, **{**SETTINGS, "epochs": 1}, learning_rate=1e-4)
    short.learn(run_dir=out / "breast-cancer-1-epoch")  # not yet separating the classes
    figures["metrics breast-cancer"] = metric_figures(binary, "breast-cancer", [short])
    lr, clip = random[random_best]
    figures["5-fold CV"], cv_runs = cv_figures(lr, clip, seed, out / "cv", figures["metrics wine"]["test_acc"])
    errors = {check.name: max_relative_error(check, seed=seed) for check in network_checks(seed)}
    figures["gradient check"] = {"max_rel_error": max(errors.values())}
    for name, error in errors.items():
        figures[f"gradcheck {name}"] = {"max_rel_error": error}
    panels = [
        Panel("validation loss of each trial (wine, 10 epochs)",
              {"grid 3x3": by_learning_rate(grid, grid_losses), "random 9": by_learning_rate(random, random_losses)},
              "log10 learning rate", "val cross-entropy", log_y=True),
        Panel("gradient check: max relative error",
              {name: ([i - 0.3, i + 0.3], [error, error]) for i, (name, error) in enumerate(errors.items())},
              "network", "relative error", log_y=True),
    ]  # fmt: skip
    runs = [*grid_runs, *random_runs, str(out / "breast-cancer"), str(out / "breast-cancer-1-epoch"), *cv_runs]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Random search beats the grid on at least 4 of 5 repeats (80% of the seeds); the metrics
    equal sklearn's to 1e-9 on every seed; the CV estimate lies within 0.1 of the test accuracy
    (means) and its folds partition the train split; every gradient check is below 1e-5 (CS231n's
    bound for functions with kinks; a wrong backward gives 1e-2 and more, a correct one 1e-7 or less)."""
    wins = table.values["random 9"]["random_wins"]
    return (
        sum(wins) >= 0.8 * len(wins)
        and max(table.values["metrics wine"]["sklearn_diff"]) <= TOLERANCE
        and max(table.values["metrics breast-cancer"]["sklearn_diff"]) <= TOLERANCE
        and abs(table.mean("5-fold CV", "cv_acc") - table.mean("5-fold CV", "test_acc")) <= 0.1
        and min(table.values["5-fold CV"]["folds_partition"]) == 1.0
        and max(table.values["gradient check"]["max_rel_error"]) < GRADIENT_TOLERANCE
    )


LECTURE = register(
    Lecture(
        name="model-selection",
        homework="HW1-HW2 lectures: general guide (validation, cross-validation, hyperparameter search)",
        claim="With one hyperparameter that matters and one that does not, random search beats a 3x3 grid of the "
        "same 9-trial budget; metrics equal sklearn's, K-fold CV estimates the test score, gradients check out.",
        arms=("grid 3x3", "random 9", "metrics wine", "metrics breast-cancer", "5-fold CV", "gradient check"),
        experiment=experiment,
        condition=condition,
        condition_text="random search's best val loss < the grid's on >= 80% of the seeds (4 of 5); "
        "|metrics - sklearn| <= 1e-9; |CV accuracy - test accuracy| <= 0.1 (means), folds partition the train "
        "split; max gradient-check relative error < 1e-5",
        quick_seeds=5,
        full_seeds=10,
    )
)
