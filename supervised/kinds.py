"""Kinds of prediction: what differs between classification, regression, reconstruction, sequence
labelling and sequence-to-sequence lives here, one object per kind, and nowhere else.

A kind owns the shape of a prediction, the label action space (when the kind has labels), the
loss (reward = -loss), the named metric a run reports and chooses its weights by, how a target
is shown in ``info``, how an input is rendered, and the checks on a task's arrays. Everything
above this module asks the task's kind; adding a kind edits no ``if kind == ...`` elsewhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from supervised.metrics import classification_report

RENDER_MIN_SIDE = 64
"""Rendered frames are at least this many pixels on their shorter side."""


# ----------------------------------------------------------------------------- losses
def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits`` (..., n_classes) against integer ``target`` (...), unreduced."""
    log_prob = F.log_softmax(logits, dim=-1)  # (..., n_classes)
    return -log_prob.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)  # (...)


def softmax_squared_error(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sum_i (softmax(logits)_i - one_hot(target)_i)^2 per example: (B, C), (B,) -> (B,).

    The slide's alternative to cross-entropy for classification: its gradient vanishes when the
    logits are confidently wrong (softmax saturates), where cross-entropy's does not."""
    probabilities = F.softmax(logits, dim=-1)  # (B, C)
    one_hot = F.one_hot(target.long(), logits.shape[-1]).to(logits.dtype)  # (B, C)
    return (probabilities - one_hot).square().sum(dim=-1)


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of ``prediction`` (B, *shape) against ``target`` of the same numel per
    example, averaged over each example's values: (B,)."""
    return (prediction - target.reshape(prediction.shape)).square().flatten(1).mean(dim=1)


def label_reward(action: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reward for a batch of labels: 1.0 if correct, fraction correct for (B, T) sequences. (B,)."""
    correct = (action == target).float()  # (B,) or (B, T)
    return correct.flatten(1).mean(dim=1) if correct.dim() > 1 else correct


def render_heatmap(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """An input as a grayscale heatmap, (H, W, 3) uint8, shorter side >= RENDER_MIN_SIDE.

    Images keep their layout, (T, vocab) sequences show one row per position, feature vectors
    one row. Unbounded features are clipped to 3 standard units.
    """
    x = np.asarray(x, dtype=np.float32)
    grid = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x[None]  # (h, w)
    low, high = (low, high) if np.isfinite([low, high]).all() else (-3.0, 3.0)
    gray = np.clip((grid - low) / max(high - low, 1e-8), 0.0, 1.0)  # (h, w) in [0, 1]
    cell = max(1, -(-RENDER_MIN_SIDE // min(gray.shape)))  # ceil division
    pixels = np.kron(gray, np.ones((cell, cell), dtype=np.float32))  # (h * cell, w * cell)
    return np.repeat((pixels * 255).astype(np.uint8)[..., None], 3, axis=-1)


# ----------------------------------------------------------------------------- kinds
class Kind:
    """What one kind of prediction means. Subclasses set the class attributes and override the
    methods whose behaviour differs; the defaults are regression's (real-valued targets)."""

    name: ClassVar[str]
    """The kind's name, as ``register_task(kind=...)`` takes it."""
    metric: ClassVar[str]
    """Name of the figure a run reports and chooses its weights by (``val/<metric>``)."""
    higher_is_better: ClassVar[bool]
    """Whether a larger ``metric`` is better (accuracy) or worse (mse)."""
    labelled: ClassVar[bool] = False
    """Whether targets are class labels, so the env also takes ``mode="label"``."""
    target_dtype: ClassVar[type] = np.float32
    """dtype of the targets ``y``."""
    standardise_target: ClassVar[bool] = False
    """Whether a ``standardise=True`` task also standardises its targets (regression only)."""
    target_is_input: ClassVar[bool] = False
    """Whether the target is the input itself (reconstruction): the loader gives x only."""
    per_token: ClassVar[bool] = False
    """Whether one prediction is made per input position (an MLP then sees one token at a time)."""
    loss_name: ClassVar[str] = "squared error"
    """What :meth:`loss` computes, in words (``eval`` prints it: reward = -<loss_name>)."""

    def __repr__(self) -> str:
        return f"<kind {self.name}>"

    def __str__(self) -> str:
        return self.name

    # -- data
    def check_targets(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        """``(y, n_classes)`` converted and checked for inputs ``x`` (N, *obs_shape); ValueError
        with the fix when they do not fit. Real-valued kinds: y (N,) or (N, D), n_classes 0."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim not in (1, 2) or len(y) != len(x):
            raise ValueError(
                f"{self.name} targets must be (N,) or (N, D) with N = {len(x)} inputs; got y of shape {y.shape}"
            )
        return y, 0

    def prediction_shape(self, obs_shape: tuple[int, ...], target_shape: tuple[int, ...], n_classes: int):
        """Shape of one prediction (the env's ``mode="prediction"`` action) given one input's
        shape, one target's shape and the number of classes."""
        return (int(np.prod(target_shape, dtype=np.int64)),)  # () -> (1,), (D,) -> (D,)

    def label_space(self, target_shape: tuple[int, ...], n_classes: int) -> spaces.Space | None:
        """Action space of ``mode="label"``; None when the kind has no labels."""
        return None

    # -- rewards and metrics
    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss per example (B,), differentiable in ``prediction``."""
        return squared_error(prediction, target)

    def reward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Reward = -loss per example (B,), differentiable in ``prediction``."""
        return -self.loss(prediction, target)

    def score(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The kind's :attr:`metric` per example (B,): here the squared error."""
        return squared_error(prediction, target)

    def report(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Figures beyond :attr:`metric` for a whole split's predictions (N, ...) and targets
        (:func:`supervised.metrics.classification_report` for classification); none here."""
        return {}

    def target_info(self, target: np.ndarray) -> Any:
        """One example's target as ``info["target"]`` shows it (a fresh object every step)."""
        return target.copy() if target.ndim else float(target)

    def render(self, x: np.ndarray, low: float, high: float) -> np.ndarray:
        """One input as an RGB frame (H, W, 3) uint8."""
        return render_heatmap(x, low, high)


class Regression(Kind):
    """Real-valued targets (N,) or (N, D); loss = squared error averaged over the D values."""

    name = "regression"
    metric = "mse"
    higher_is_better = False
    standardise_target = True


class Reconstruction(Kind):
    """The target is the input itself (an autoencoder's task); loss = mean squared error over
    every value of the input."""

    name = "reconstruction"
    metric = "mse"
    higher_is_better = False
    target_is_input = True

    def check_targets(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        """The target is x: ``y`` must be x itself (the loader returns x only)."""
        y = np.asarray(y, dtype=np.float32)
        if y.shape != x.shape:
            raise ValueError(f"reconstruction targets are the inputs; got y {y.shape} for x {x.shape}")
        return y, 0

    def prediction_shape(self, obs_shape, target_shape, n_classes):
        """A reconstruction has the input's shape."""
        return tuple(obs_shape)


class Classification(Kind):
    """One class label per example, y (N,) int64 in [0, n_classes); loss = cross-entropy."""

    name = "classification"
    metric = "accuracy"
    higher_is_better = True
    labelled = True
    target_dtype = np.int64
    loss_name = "cross-entropy"

    def check_targets(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        """Integer labels (N,); ``n_classes`` 0 means max label + 1."""
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"classification targets must be (N,) labels with N = {len(x)}; got y of shape {y.shape}")
        return self._labels(y, n_classes)

    def _labels(self, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        if not (np.issubdtype(y.dtype, np.integer) or np.array_equal(y, np.round(y))):
            raise ValueError(f"{self.name} targets must be integer class labels; got dtype {y.dtype}")
        y = y.astype(np.int64)
        n_classes = n_classes or int(y.max()) + 1
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(
                f"{self.name} labels must be in [0, n_classes={n_classes}); got {y.min()}..{y.max()} "
                "(map them to 0..n_classes-1 first)"
            )
        return y, n_classes

    def prediction_shape(self, obs_shape, target_shape, n_classes):
        """One logit per class."""
        return (n_classes,)

    def label_space(self, target_shape, n_classes):
        """Discrete(n_classes)."""
        return spaces.Discrete(n_classes)

    def loss(self, prediction, target):
        """Cross-entropy of the logits (B, n_classes) at the label (B,)."""
        return cross_entropy_loss(prediction, target)

    def score(self, prediction, target):
        """1.0 where the argmax logit is the label."""
        return label_reward(prediction.argmax(dim=-1), target)

    def report(self, prediction, target):
        """Precision, recall and F1 (macro; binary too for two classes) and ROC-AUC of the logits
        (N, n_classes) against the labels (N,)."""
        return classification_report(prediction, target)

    def target_info(self, target):
        """The label as an int."""
        return int(target)


class SequenceLabelling(Classification):
    """One class label per input position: x (N, T, D), y (N, T) int64; loss = cross-entropy
    averaged over the positions, metric = fraction of positions labelled right."""

    name = "sequence"
    per_token = True
    loss_name = "cross-entropy averaged over positions"

    def check_targets(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        """Labels (N, T), one per position of x (N, T, D)."""
        y = np.asarray(y)
        if y.ndim != 2 or x.ndim != 3 or y.shape != x.shape[:2]:
            raise ValueError(
                f"{self.name} needs x (N, T, D) and one label per position, y (N, T); got {x.shape} and {y.shape}"
            )
        return self._labels(y, n_classes)

    def prediction_shape(self, obs_shape, target_shape, n_classes):
        """Logits per position (T, n_classes)."""
        return (*target_shape, n_classes)

    def report(self, prediction, target):
        """None (the figures of :class:`Classification` are for one label per example)."""
        return {}

    def label_space(self, target_shape, n_classes):
        """MultiDiscrete: one label per position."""
        return spaces.MultiDiscrete(np.full(target_shape, n_classes, dtype=np.int64))

    def loss(self, prediction, target):
        """Cross-entropy of (B, T, n_classes) logits, averaged over the T positions."""
        return cross_entropy_loss(prediction, target).mean(dim=-1)

    def target_info(self, target):
        """The labels as a fresh array."""
        return target.copy()


class SequenceToSequence(SequenceLabelling):
    """An output token sequence y (N, T_out) for an input sequence x (N, T_in, D), T_out free:
    the prediction needs the whole input, not one position (an MLP sees it flattened)."""

    name = "seq2seq"
    per_token = False

    def check_targets(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        """Tokens (N, T_out) for inputs (N, T_in, D)."""
        y = np.asarray(y)
        if y.ndim != 2 or x.ndim != 3 or len(y) != len(x):
            raise ValueError(f"seq2seq needs x (N, T_in, D) and y (N, T_out) tokens; got {x.shape} and {y.shape}")
        return self._labels(y, n_classes)


IGNORE = -1
"""A masked-tokens target that is not scored (a position that was not corrupted)."""


class MaskedTokens(SequenceLabelling):
    """Masked-token prediction (BERT's pretext task): token targets (N, T) with :data:`IGNORE` at
    the positions not scored; loss = cross-entropy averaged over the scored positions, metric =
    the fraction of them predicted right (0 loss and score for an example with none)."""

    name = "masked-tokens"
    loss_name = "cross-entropy averaged over the masked positions"

    def check_targets(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
        """Tokens (N, T) in [0, n_classes) or IGNORE, one per position of x (N, T, D)."""
        y = np.asarray(y)
        scored = np.where(y == IGNORE, 0, y)
        _, n_classes = super().check_targets(x, scored, n_classes)
        return y.astype(np.int64), n_classes

    def loss(self, prediction, target):
        """Cross-entropy of (B, T, n_classes) logits at the scored positions, averaged over them."""
        scored = (target != IGNORE).float()  # (B, T)
        loss = cross_entropy_loss(prediction, target.clamp(min=0)) * scored
        return loss.sum(dim=-1) / scored.sum(dim=-1).clamp(min=1.0)

    def score(self, prediction, target):
        """Fraction of the scored positions whose argmax is the token."""
        scored = (target != IGNORE).float()
        right = (prediction.argmax(dim=-1) == target).float() * scored
        return right.sum(dim=-1) / scored.sum(dim=-1).clamp(min=1.0)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Classification(),
        Regression(),
        Reconstruction(),
        SequenceLabelling(),
        SequenceToSequence(),
        MaskedTokens(),
    )
}
"""Every kind by name."""


def get_kind(kind: str | Kind) -> Kind:
    """The kind object for a name (a :class:`Kind` passes through); ValueError listing the names."""
    if isinstance(kind, Kind):
        return kind
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind]
