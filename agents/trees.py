"""Tree ensembles for classification tasks: AdaBoost (SAMME) and bagged decision trees.

Each member is a scikit-learn ``DecisionTreeClassifier`` (a stump with ``max_depth=1``); the
ensemble loop is this file's. One training iteration adds one member, fitted on the whole train
split (one pass = ``len(train)`` steps, as the supervised learner counts examples):

- ``method=adaboost``: SAMME (Zhu, Zou, Rosset and Hastie 2009, "Multi-class AdaBoost"), as
  scikit-learn's ``AdaBoostClassifier``: the member is fitted with the current example weights,
  votes with ``learning_rate * (log((1 - error) / error) + log(K - 1))``, and the examples it gets
  wrong have their weights multiplied by ``exp(vote)`` (:func:`samme_round`);
- ``method=bagging``: each member is fitted on its own bootstrap resample of the train split, and
  the ensemble predicts with the members' averaged class probabilities.

A fitted tree is kept as arrays (each node's feature, threshold and children, each leaf's class
probabilities) in buffers whose size the config fixes, so a checkpoint is a plain ``state_dict``,
and prediction walks the arrays in torch (:func:`tree_leaves`). The learner is the supervised
learner with another model and another training iteration: it scores splits, evaluates, saves and
loads as a supervised run does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from agents.config import TrainConfig, one_of, positive
from agents.supervised import Supervised
from envs.single_step import SingleStepEnv, fixed_dataset

METHODS: tuple[str, ...] = ("adaboost", "bagging")
"""Values of ``method``."""


@dataclass
class TreesConfig(TrainConfig):
    """Tree-ensemble hyperparameters; the defaults are scikit-learn's AdaBoostClassifier's."""

    total_steps: int = 0
    """training examples (one member = one pass over the train split); 0: `members` passes"""
    n_envs: int = 1
    """must stay 1 (no env is stepped: members are fitted on the whole train split)"""
    method: str = "adaboost"
    """adaboost (SAMME) | bagging (bootstrap resamples, averaged probabilities)"""
    members: int = 50
    """trees in the ensemble (AdaBoost may stop earlier, at a perfect or a useless tree)"""
    max_depth: int = 1
    """depth of each tree (1: a decision stump; 0: grown until its leaves are pure)"""
    learning_rate: float = 1.0
    """AdaBoost: each member's vote is multiplied by this (shrinkage)"""
    eval_batch_size: int = 1024
    """examples per forward pass when scoring a whole split"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        if self.total_steps < 0:
            raise ValueError(f"total_steps must be >= 0 (0: one pass per member), got {self.total_steps}")
        TrainConfig.check(dataclasses.replace(self, total_steps=self.total_steps or 1))
        positive(self, "members", "eval_batch_size")
        one_of(self, "method", METHODS)
        if self.max_depth < 0:
            raise ValueError(f"max_depth must be >= 0 (0: unlimited), got {self.max_depth}")
        if self.n_envs != 1:
            raise ValueError(
                f"trees fits each member on the whole train split, so n_envs must be 1 (got {self.n_envs})"
            )


# ----------------------------------------------------------------------------- boosting
class SammeRound(NamedTuple):
    """What one SAMME round decides."""

    vote: float
    """the member's weight in the ensemble's vote"""
    weights: np.ndarray
    """(N,) the examples' weights for the next member, summing to 1"""
    error: float
    """the member's weighted training error (under the weights it was fitted with)"""
    factor: float
    """Z = (1 - error) exp(-vote / 2) + error exp(vote / 2): the training error is at most the
    product of the rounds' factors (< 1 for two classes whenever error < 1/2)"""


def samme_round(weights: np.ndarray, wrong: np.ndarray, n_classes: int, learning_rate: float = 1.0) -> SammeRound:
    """One round of SAMME for a member that gets the examples ``wrong`` (N,) wrong under ``weights``
    (N,): its vote ``learning_rate * (log((1 - error) / error) + log(K - 1))``, and the weights
    multiplied by ``exp(vote)`` where it was wrong, renormalised.

    Why the factor bounds the training error: after M rounds an example's weight is proportional to
    ``exp(sum of the votes of the members that got it wrong)``, and the ensemble can only get an
    example wrong when those votes are at least half of all votes; so the error is at most
    ``mean_i exp(wrong votes_i - all votes / 2)``, which is the product of the factors Z."""
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    wrong = np.asarray(wrong, dtype=bool)
    error = float(weights[wrong].sum())
    vote = learning_rate * (math.log((1 - error) / error) + math.log(n_classes - 1))
    factor = (1 - error) * math.exp(-vote / 2) + error * math.exp(vote / 2)
    new_weights = weights * np.exp(vote * wrong)
    return SammeRound(vote, new_weights / new_weights.sum(), error, factor)


# ----------------------------------------------------------------------------- trees as arrays
def max_nodes(max_depth: int, n_train: int) -> int:
    """Nodes a tree of ``max_depth`` (0: unlimited) can have on ``n_train`` examples."""
    most = 2 * n_train - 1  # a binary tree with at most n_train leaves
    return most if max_depth == 0 else min(most, 2 ** (max_depth + 1) - 1)


def tree_leaves(x: torch.Tensor, feature, threshold, left, right, depth: int) -> torch.Tensor:
    """The leaf each example reaches in each tree: x (B, D); feature, threshold, left, right
    (M, nodes) (left = -1 at a leaf); -> (M, B) node numbers. As scikit-learn: x <= threshold
    goes left."""
    node = torch.zeros(len(feature), len(x), dtype=torch.long, device=x.device)  # (M, B), all at the root
    for _ in range(depth):
        split_feature = feature.gather(1, node).clamp(min=0)  # (M, B); a leaf's -2 becomes a harmless 0
        values = x.T.gather(0, split_feature)  # (M, B): x[b, the node's feature]
        child = torch.where(values <= threshold.gather(1, node), left.gather(1, node), right.gather(1, node))
        node = torch.where(left.gather(1, node) < 0, node, child)
    return node


class TreeEnsemble(nn.Module):
    """Up to ``members`` fitted trees as fixed-size buffers, and their votes. ``forward`` returns
    logits (B, n_classes): for AdaBoost scikit-learn's SAMME decision function divided by K - 1
    (their softmax is its ``predict_proba``; K = ``classes_seen``, the classes the train split
    holds), for bagging the log of the averaged probabilities."""

    def __init__(self, members: int, nodes: int, n_classes: int, boosted: bool, classes_seen: int | None = None):
        super().__init__()
        self.boosted = boosted
        self.classes_seen = classes_seen or n_classes
        self.register_buffer("feature", torch.full((members, nodes), -2, dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(members, nodes, dtype=torch.float64))  # as scikit-learn's
        self.register_buffer("left", torch.full((members, nodes), -1, dtype=torch.long))
        self.register_buffer("right", torch.full((members, nodes), -1, dtype=torch.long))
        self.register_buffer("value", torch.zeros(members, nodes, n_classes))  # leaf class probabilities
        self.register_buffer("vote", torch.zeros(members))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.long))  # members fitted so far
        self.register_buffer("depth", torch.zeros((), dtype=torch.long))  # the deepest fitted tree's depth

    def add(self, tree, classes: np.ndarray, vote: float) -> None:
        """Store a fitted scikit-learn tree (its ``classes_`` are ``classes``) as member ``fitted``."""
        m, t = int(self.fitted), tree.tree_
        n = t.node_count
        if n > self.feature.shape[1]:
            raise ValueError(f"a tree of {n} nodes does not fit the {self.feature.shape[1]} reserved; raise max_depth")
        value = torch.zeros(n, self.value.shape[-1])
        probabilities = t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True)  # (n, classes seen)
        value[:, torch.as_tensor(classes)] = torch.as_tensor(probabilities, dtype=torch.float32)
        self.feature[m, :n] = torch.as_tensor(t.feature)
        self.threshold[m, :n] = torch.as_tensor(t.threshold)
        self.left[m, :n] = torch.as_tensor(t.children_left)
        self.right[m, :n] = torch.as_tensor(t.children_right)
        self.value[m, :n] = value
        self.vote[m] = vote
        self.depth.fill_(max(int(self.depth), tree.get_depth()))
        self.fitted += 1

    def member_probabilities(self, obs: torch.Tensor) -> torch.Tensor:
        """Every fitted member's class probabilities: (M, B, n_classes)."""
        m = int(self.fitted)
        x = obs.flatten(1).double()  # (B, D), compared with float64 thresholds as scikit-learn does
        buffers = (self.feature[:m], self.threshold[:m], self.left[:m], self.right[:m])
        leaves = tree_leaves(x, *buffers, int(self.depth))  # (M, B)
        return self.value[:m].gather(1, leaves.unsqueeze(-1).expand(-1, -1, self.value.shape[-1]))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        probabilities = self.member_probabilities(obs)  # (M, B, K)
        n_classes = probabilities.shape[-1]
        if len(probabilities) == 0:  # no member yet: no opinion
            return torch.zeros(len(obs), n_classes, device=obs.device)
        if not self.boosted:
            return probabilities.mean(dim=0).clamp_min(1e-6).log()  # (B, K)
        votes = self.vote[: int(self.fitted)]  # (M,)
        k = self.classes_seen
        chosen = nn.functional.one_hot(probabilities.argmax(dim=-1), n_classes).float()  # (M, B, n_classes)
        coded = chosen - (1 - chosen) / (k - 1)  # +1 for the member's class, -1/(K-1) for the others
        decision = torch.einsum("m,mbk->bk", votes, coded) / votes.sum().clamp_min(1e-12)
        return decision / (k - 1)


# ----------------------------------------------------------------------------- learner
class Trees(Supervised):
    """AdaBoost (SAMME) or bagging over scikit-learn decision trees, one member per iteration."""

    name = "trees"
    action_spaces = (gym.spaces.Discrete,)
    Config = TreesConfig
    config: TreesConfig

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """A classification task's labels (Discrete)."""
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(
                f"trees needs a classification task (one label per example); its actions are {action_space}"
            )

    def build(self) -> None:
        """The train split (features flattened), the empty ensemble, and the example weights."""
        probe = envs.make_env(self.env_id, **self.env_kwargs)
        single = probe.unwrapped
        probe.close()
        if not isinstance(single, SingleStepEnv):
            raise ValueError(f"trees trains single-step classification tasks (`gymlab list`); {self.env_id} is not one")
        self.task, self.mode = single.task, single.mode
        self.task_kwargs = {k: v for k, v in self.env_kwargs.items() if k not in ("task", "mode", "render_mode")}
        self.train_set = fixed_dataset(self.task, "train", **self.task_kwargs)
        self.train_rows = None  # trees train on the whole train split
        if self.train_set.kind.name != "classification":
            raise ValueError(f"trees needs a classification task; {self.task!r} is {self.train_set.kind}")
        c, n_train = self.config, len(self.train_set)
        if c.total_steps == 0:
            self.config = c = dataclasses.replace(c, total_steps=c.members * n_train)
        nodes = max_nodes(c.max_depth, n_train)
        self.n_boosting_classes = max(len(np.unique(self.train_set.y)), 2)  # SAMME's K: the classes in play
        self.model = TreeEnsemble(
            c.members, nodes, self.train_set.n_classes, c.method == "adaboost", self.n_boosting_classes
        )
        self.weights = torch.full((n_train,), 1.0 / n_train, dtype=torch.float64)  # AdaBoost's example weights
        self.history: dict[str, list[float]] = {"error": [], "factor": [], "train_error": []}
        self._score_envs = {}

    def modules(self):
        """The trees and their votes (nothing else is learned)."""
        return {"model": self.model}

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """Nothing to open: each member is fitted on the whole train split."""

    def train_iteration(self) -> dict[str, float]:
        """Fit one member and add it (AdaBoost: with its SAMME vote, then reweight the examples)."""
        from sklearn.tree import DecisionTreeClassifier

        c = self.config
        x = self.train_set.x.reshape(len(self.train_set), -1)  # (N, D)
        y = self.train_set.y  # (N,)
        tree = DecisionTreeClassifier(max_depth=c.max_depth or None, random_state=int(self.rng.integers(2**31)))
        metrics: dict[str, float] = {}
        if c.method == "bagging":
            rows = self.rng.integers(len(y), size=len(y))  # the bootstrap resample
            tree.fit(x[rows], y[rows])
            self.model.add(tree, tree.classes_, 1.0)
        else:
            tree.fit(x, y, sample_weight=self.weights.numpy())
            wrong = tree.predict(x) != y
            error = float(self.weights[torch.as_tensor(wrong)].sum() / self.weights.sum())
            n_classes = self.n_boosting_classes
            if error >= 1 - 1 / n_classes and int(self.model.fitted) > 0:  # no better than chance: stop here
                self.config = dataclasses.replace(c, total_steps=self.num_timesteps)
                return {"train/weighted_error": error}
            if error <= 0:  # a perfect member: scikit-learn's vote 1, and nothing left to reweight
                self.model.add(tree, tree.classes_, 1.0)
                self.config = dataclasses.replace(c, total_steps=self.num_timesteps + len(y))
                self.history["factor"].append(0.0)
            else:
                step = samme_round(self.weights.numpy(), wrong, n_classes, c.learning_rate)
                self.model.add(tree, tree.classes_, step.vote)
                self.weights = torch.as_tensor(step.weights)
                self.history["factor"].append(step.factor)
                metrics["train/vote"] = step.vote
            self.history["error"].append(error)
            metrics["train/weighted_error"] = error
        self.num_timesteps += len(y)
        train_error = 1.0 - float(self.score_split("train")["accuracy"])
        self.history["train_error"].append(train_error)
        metrics.update({"train/error": train_error, "train/members": float(self.model.fitted)})
        metrics["eval/accuracy"] = float(self.score_split("val")["accuracy"])
        return metrics

    def state_dict(self) -> dict:
        """The base state plus the example weights and the per-round history."""
        state = super(Supervised, self).state_dict()
        state["boosting"] = {"weights": self.weights, "history": self.history}
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore from :meth:`state_dict`."""
        super(Supervised, self).load_state_dict(state, weights_only)
        if weights_only or "boosting" not in state:
            return
        self.weights = state["boosting"]["weights"]
        self.history = {k: list(v) for k, v in state["boosting"]["history"].items()}
