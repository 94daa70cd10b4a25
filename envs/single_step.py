"""Every supervised lecture as a single-step environment: observe x, act = predict, reward = -loss.

Two ways to use a task from :mod:`supervised.datasets`:

- :class:`SingleStepEnv`, a plain ``gymnasium.Env`` (numpy in, numpy out) that SB3 and
  gymnasium wrappers use unchanged. One episode = one example; one epoch = one shuffled pass.
- :class:`SingleStepVectorEnv`, a ``gymnasium.vector.VectorEnv`` whose observations, actions
  and rewards are torch tensors on one device. In ``mode="prediction"`` its reward is
  differentiable in the action, so a pathwise learner trains by ``(-reward).mean().backward()``
  — ordinary supervised learning through the RL interface.

Modes: ``"label"`` acts with a class label (reward = 1 if correct, fraction correct for
sequences); ``"prediction"`` acts with logits or a regression value (reward = -cross-entropy or
-squared error). Regression tasks have no labels, so they only take ``"prediction"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from supervised.datasets import TASKS, Dataset, check_task, load_task

MODES: tuple[str, ...] = ("label", "prediction")
"""Action modes: act with a class label, or with logits / a regression value."""

PREDICTION_BOUND = 100.0
"""``mode="prediction"`` actions live in [-PREDICTION_BOUND, PREDICTION_BOUND]. SB3 needs a
finite Box; 100 is far beyond any useful logit or standardised regression value."""

ENV_KWARGS: dict[str, dict[str, str]] = {
    "gymlab/Digits-v0": {"task": "digits"},
    # regression tasks have no labels, so they default to mode="prediction"
    "gymlab/Diabetes-v0": {"task": "diabetes", "mode": "prediction"},
    "gymlab/Piecewise-v0": {"task": "piecewise", "mode": "prediction"},
    "gymlab/Sequence-v0": {"task": "sequence"},
}
"""Registered gymnasium id -> default ``SingleStepEnv`` kwargs (override them in gym.make)."""

RENDER_MIN_SIDE = 64
"""Rendered frames are at least this many pixels on their shorter side."""


# ----------------------------------------------------------------------------- losses / rewards
def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits`` (..., n_classes) against integer ``target`` (...), unreduced."""
    log_prob = F.log_softmax(logits, dim=-1)  # (..., n_classes)
    return -log_prob.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)  # (...)


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of ``prediction`` (B, D) against ``target`` (B,) (D = 1) or (B, D), averaged
    over the D values of each example: (B,)."""
    return (prediction - target.reshape(prediction.shape)).square().mean(dim=-1)


def prediction_reward(action: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Reward = -loss for a batch of predictions; differentiable in ``action``. Returns (B,).

    ``kind`` is the task's kind: 'classification' (action (B, n_classes) logits, target (B,)),
    'regression' (action (B, D), target (B,) or (B, D)), or 'sequence' (action (B, T, n_classes), target
    (B, T); the loss is the mean cross-entropy over positions).
    """
    if kind == "classification":
        return -cross_entropy_loss(action, target)
    if kind == "regression":
        return -squared_error(action, target)
    if kind == "sequence":
        return -cross_entropy_loss(action, target).mean(dim=-1)  # (B, T) -> (B,)
    raise ValueError(f"unknown kind {kind!r}; choose one of: classification, regression, sequence")


def label_reward(action: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reward for a batch of labels: 1.0 if correct, fraction correct for (B, T) sequences. (B,)."""
    correct = (action == target).float()  # (B,) or (B, T)
    return correct.flatten(1).mean(dim=1) if correct.dim() > 1 else correct


def prediction_accuracy(action: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Fraction of argmax-correct classes per example for classification/sequence logits. (B,)."""
    if kind == "regression":
        raise ValueError("accuracy needs classes; regression tasks have none")
    return label_reward(action.argmax(dim=-1), target)


# ----------------------------------------------------------------------------- spaces
def check_mode(mode: str, dataset: Dataset) -> None:
    """Raise ``ValueError`` when ``mode`` is unknown or does not fit the task's kind."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "label" and dataset.kind == "regression":
        raise ValueError(f"task {dataset.name!r} is regression and has no labels; use mode='prediction'")


def observation_space_for(dataset: Dataset) -> spaces.Box:
    """Box of one input x: float32, the task's bounds (e.g. [0, 1] for digits)."""
    return spaces.Box(dataset.x_low, dataset.x_high, shape=dataset.obs_shape, dtype=np.float32)


def action_space_for(dataset: Dataset, mode: str) -> spaces.Space:
    """Action space of one example: labels (Discrete / MultiDiscrete) or a bounded float Box."""
    check_mode(mode, dataset)
    seq_len = dataset.y.shape[1] if dataset.kind == "sequence" else 0
    if mode == "label":
        if dataset.kind == "sequence":
            return spaces.MultiDiscrete(np.full(seq_len, dataset.n_classes, dtype=np.int64))
        return spaces.Discrete(dataset.n_classes)
    shape = (seq_len, dataset.out_dim) if dataset.kind == "sequence" else (dataset.out_dim,)
    return spaces.Box(-PREDICTION_BOUND, PREDICTION_BOUND, shape=shape, dtype=np.float32)


def render_observation(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """An input as a grayscale heatmap, (H, W, 3) uint8, shorter side >= RENDER_MIN_SIDE.

    Images keep their layout, (T, vocab) sequences show one row per position, feature vectors
    one row. Unbounded features are clipped to 3 standard units.
    """
    x = np.asarray(x, dtype=np.float32)
    grid = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x[None]  # (h, w)
    low, high = (low, high) if np.isfinite([low, high]).all() else (-3.0, 3.0)
    gray = np.clip((grid - low) / max(high - low, 1e-8), 0.0, 1.0)  # (h, w) in [0, 1]
    cell = max(1, -(-RENDER_MIN_SIDE // min(gray.shape)))  # ceil division
    block = np.ones((cell, cell), dtype=np.float32)
    pixels = np.kron(gray, block)  # (h * cell, w * cell)
    return np.repeat((pixels * 255).astype(np.uint8)[..., None], 3, axis=-1)


# ----------------------------------------------------------------------------- single env
class SingleStepEnv(gym.Env):
    """One supervised example per episode: observe x, act = predict, reward = -loss, terminate.

    Each ``reset()`` serves the next example of a shuffled pass over the split (an epoch,
    without replacement); a new shuffle starts when the pass is used up, and ``reset(seed=s)``
    reseeds and restarts the epoch. ``info["target"]`` (after ``step``) carries y.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": 4,
    }

    def __init__(
        self,
        task: str,
        split: str = "train",
        mode: str = "label",
        render_mode: str | None = None,
    ) -> None:
        check_task(task)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; choose 'rgb_array' or None")
        self.dataset = load_task(task, split)
        check_mode(mode, self.dataset)
        self.task, self.split, self.mode = task, split, mode
        self.render_mode = render_mode
        self.observation_space = observation_space_for(self.dataset)
        self.action_space = action_space_for(self.dataset, mode)
        self.epoch = -1
        """Number of completed shuffles minus one; 0 during the first pass."""
        self._order: np.ndarray | None = None  # (N,) shuffled rows of the current epoch
        self._position = 0  # next entry of _order to serve
        # row being predicted; None before reset() and after step()
        self._index: int | None = None
        self._last_index: int | None = None  # row scored by the last step, for render()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Serve the next example of the epoch; ``seed`` reseeds and starts a fresh epoch."""
        super().reset(seed=seed)
        n = len(self.dataset)
        if seed is not None or self._order is None or self._position >= n:
            self._order = self.np_random.permutation(n)
            self._position = 0
            self.epoch = 0 if seed is not None else self.epoch + 1
        self._index = int(self._order[self._position])
        self._position += 1
        info = {"index": self._index, "epoch": self.epoch}
        return self.dataset.x[self._index].copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score ``action`` against the example's target; the episode always ends here."""
        if self._index is None:
            raise RuntimeError("no example to predict; call reset() before step()")
        action = self._check_action(action)
        target = torch.tensor(self.dataset.y[self._index])[None]  # (1,) or (1, T)
        batch_action = torch.as_tensor(action)[None]  # (1, *action_shape)
        info: dict[str, Any] = {"index": self._index, "target": self._target_info()}
        if self.mode == "label":
            reward = label_reward(batch_action, target)
            info["accuracy"] = float(reward[0])
        else:
            reward = prediction_reward(batch_action, target, self.dataset.kind)
            if self.dataset.kind != "regression":
                info["accuracy"] = float(prediction_accuracy(batch_action, target, self.dataset.kind)[0])
        observation = self.dataset.x[self._index].copy()
        self._last_index, self._index = self._index, None
        return observation, float(reward[0]), True, False, info

    def render(self) -> np.ndarray | None:
        """The current (or last scored) input as an RGB heatmap; digits show as an 8x8 image."""
        if self.render_mode != "rgb_array":
            return None
        index = self._index if self._index is not None else self._last_index
        if index is None:
            blank = np.zeros(self.observation_space.shape, dtype=np.float32)
            return render_observation(blank, 0.0, 1.0)
        x = self.dataset.x[index]
        return render_observation(x, self.dataset.x_low, self.dataset.x_high)

    def _target_info(self) -> int | float | np.ndarray:
        target = self.dataset.y[self._index]
        if target.ndim:
            return target.copy()  # (T,) int64 labels or (D,) values, a fresh array every step
        return int(target) if self.dataset.kind == "classification" else float(target)

    def _check_action(self, action: Any) -> np.ndarray:
        """The action as a numpy array, or ``ValueError`` saying what is wrong with it."""
        where = f"action for task {self.task!r} in mode {self.mode!r}"
        array = np.asarray(action)
        shape = self.action_space.shape
        if array.shape != shape:
            raise ValueError(f"{where} must have shape {shape}, got {array.shape}")
        if self.mode == "label":
            if not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{where} must be integer class labels, got dtype {array.dtype}")
            if array.min() < 0 or array.max() >= self.dataset.n_classes:
                raise ValueError(f"{where} must be in [0, {self.dataset.n_classes - 1}], got {array.tolist()}")
            return array.astype(np.int64)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"{where} must be real numbers, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)) or np.abs(array).max() > PREDICTION_BOUND:
            raise ValueError(
                f"{where} must be finite and within ±{PREDICTION_BOUND:g}, "
                f"got min {array.min():g} and max {array.max():g}"
            )
        return array.astype(np.float32)


# ----------------------------------------------------------------------------- vector env
class SingleStepVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` examples at a time as torch tensors on ``device``; reward differentiable.

    Every step ends every episode, so the observations a step returns are the *next* batch
    (same-step autoreset) while ``info`` describes the batch just scored: ``info["target"]``
    (B,) or (B, T), ``info["index"]`` (B,) rows of the split, ``info["epoch"]`` (B,) which pass
    each scored example belongs to.

    Batches are consecutive chunks of an endless stream of shuffled passes over the split (a
    pass = an epoch, without replacement). When a pass does not divide into whole batches, its
    last batch is filled from the start of the next, reshuffled, pass: every batch has exactly
    ``num_envs`` examples and nothing is dropped. To evaluate exactly one pass, reset, take
    ``steps_per_epoch`` steps and keep the rewards where ``info["epoch"] == 0``.

    ``mode="prediction"`` (the default here, unlike :class:`SingleStepEnv`) expects float
    logits / values and returns -loss with its graph attached; ``mode="label"`` expects integer
    labels and returns 0/1 correctness (fraction correct for sequences). Prediction actions
    are not clipped to the ±PREDICTION_BOUND box, which exists for SB3's sake only.
    With ``check_values=True`` labels are range-checked and predictions checked for NaN/inf,
    which costs one device sync per step; turn it off for speed on a GPU.
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        task: str,
        num_envs: int,
        split: str = "train",
        mode: str = "prediction",
        device: str | torch.device = "cpu",
        check_values: bool = True,
    ) -> None:
        check_task(task)
        self.dataset = load_task(task, split)
        check_mode(mode, self.dataset)
        n = len(self.dataset)
        if not isinstance(num_envs, int) or not 1 <= num_envs <= n:
            raise ValueError(
                f"num_envs (batch size) must be an int in [1, {n}] for the {n}-example "
                f"{split!r} split of {task!r}, got {num_envs!r}"
            )
        self.task, self.split, self.mode, self.num_envs = task, split, mode, num_envs
        self.check_values = check_values
        # canonical form, e.g. "cuda" -> cuda:0, so device comparisons are exact
        self.device = torch.empty(0, device=device).device
        self.single_observation_space = observation_space_for(self.dataset)
        self.single_action_space = action_space_for(self.dataset, mode)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.steps_per_epoch = -(-n // num_envs)  # ceil division
        """Steps after ``reset()`` whose scored examples include every example of epoch 0."""
        # the whole split lives on the device: batches are gathered, never copied over
        # x: (N, *obs_shape); y: (N,) or (N, T)
        self._x = torch.from_numpy(self.dataset.x.copy()).to(self.device)
        self._y = torch.from_numpy(self.dataset.y.copy()).to(self.device)
        self._order: torch.Tensor | None = None  # (N,) shuffled rows of this epoch
        self._position = 0
        self._epoch = -1
        # (index, epoch) of the batch awaiting actions, (B,) each
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Start a fresh epoch (reseeded when ``seed`` is given) and return its first batch."""
        super().reset(seed=seed)
        self._order, self._position, self._epoch = None, 0, -1
        self._batch = self._next_batch()
        index, epoch = self._batch
        return self._x[index], {"index": index.clone(), "epoch": epoch.clone()}

    def step(
        self, actions: torch.Tensor | np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Score a batch of actions; returns (next_obs, reward, terminated, truncated, info).

        ``reward`` is (B,) float32 on ``device``, with a graph back to ``actions`` in prediction
        mode; ``terminated`` is all True, ``truncated`` all False.
        """
        if self._batch is None:
            raise RuntimeError("no batch to predict; call reset() before step()")
        actions = self._check_actions(actions)
        index, epoch = self._batch
        target = self._y[index]  # (B,) or (B, T)
        if self.mode == "label":
            reward = label_reward(actions, target)
        else:
            reward = prediction_reward(actions, target, self.dataset.kind)
        info = {"target": target, "index": index, "epoch": epoch}
        self._batch = self._next_batch()
        terminated = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        truncated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._x[self._batch[0]], reward, terminated, truncated, info

    def _shuffle(self) -> None:
        order = self.np_random.permutation(len(self.dataset))
        self._order = torch.from_numpy(order).to(self.device)
        self._position = 0
        self._epoch += 1

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next ``num_envs`` rows of the stream and the epoch of each (a batch spans <= 2)."""
        if self._order is None or self._position >= len(self._order):
            self._shuffle()
        head = self._order[self._position : self._position + self.num_envs]
        epochs = [torch.full((len(head),), self._epoch, device=self.device)]
        self._position += len(head)
        parts = [head]
        if len(head) < self.num_envs:  # pass used up mid-batch: top up from the next
            self._shuffle()
            tail = self._order[: self.num_envs - len(head)]
            self._position = len(tail)
            parts.append(tail)
            epochs.append(torch.full((len(tail),), self._epoch, device=self.device))
        return torch.cat(parts), torch.cat(epochs)

    def _check_actions(self, actions: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The actions as a tensor on ``device``, or ``ValueError`` saying what is wrong."""
        where = f"actions for task {self.task!r} in mode {self.mode!r}"
        if isinstance(actions, np.ndarray):
            actions = torch.from_numpy(actions).to(self.device)
        if not isinstance(actions, torch.Tensor):
            raise TypeError(f"{where} must be a torch.Tensor, got {type(actions).__name__}")
        if actions.device != self.device:
            raise ValueError(
                f"{where} are on {actions.device} but the env is on {self.device}; move them with .to(env.device)"
            )
        shape = tuple(self.action_space.shape)
        if tuple(actions.shape) != shape:
            raise ValueError(f"{where} must have shape {shape}, got {tuple(actions.shape)}")
        if self.mode == "label":
            if actions.dtype.is_floating_point or actions.dtype.is_complex or actions.dtype == torch.bool:
                raise ValueError(f"{where} must be integer class labels, got dtype {actions.dtype}")
            out_of_range = (actions < 0) | (actions >= self.dataset.n_classes)
            if self.check_values and bool(out_of_range.any()):
                raise ValueError(f"{where} must be in [0, {self.dataset.n_classes - 1}]")
            return actions
        if not actions.dtype.is_floating_point:
            raise ValueError(f"{where} must be floating point (logits/values), got dtype {actions.dtype}")
        if self.check_values and not bool(torch.isfinite(actions).all()):
            raise ValueError(f"{where} must be finite, got NaN or inf")
        return actions


# ----------------------------------------------------------------------------- registration
def register_envs() -> None:
    """Register ``gymlab/Digits-v0``, ``Diabetes-v0``, ``Piecewise-v0``, ``Sequence-v0``.

    Safe to call twice (ids already registered are left alone). Regression ids default to
    ``mode="prediction"`` since they have no labels; the others to ``mode="label"``.
    """
    for env_id, kwargs in ENV_KWARGS.items():
        if env_id not in gym.envs.registry:
            gym.register(
                env_id,
                entry_point="envs.single_step:SingleStepEnv",
                kwargs=dict(kwargs),
            )


__all__ = [
    "ENV_KWARGS",
    "MODES",
    "PREDICTION_BOUND",
    "TASKS",
    "SingleStepEnv",
    "SingleStepVectorEnv",
    "action_space_for",
    "cross_entropy_loss",
    "label_reward",
    "observation_space_for",
    "prediction_accuracy",
    "prediction_reward",
    "register_envs",
    "squared_error",
]
