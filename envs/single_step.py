"""Every supervised lecture as a single-step environment: observe x, act = predict, reward = -loss.

Two ways to use a task of the registry (:mod:`supervised`):

- :class:`SingleStepEnv`, a plain ``gymnasium.Env`` (numpy in, numpy out) that SB3 and
  gymnasium wrappers use unchanged. One episode = one example; one epoch = one shuffled pass.
  It also serves a task *family* (``family=...``): a sequence of tasks on a schedule, or a
  distribution that draws a new task, with its support set, when the last one's queries are used.
- :class:`SingleStepVectorEnv`, a ``gymnasium.vector.VectorEnv`` whose observations, actions
  and rewards are torch tensors on one device. In ``mode="prediction"`` its reward is
  differentiable in the action, so a pathwise learner trains by ``(-reward).mean().backward()``
  — ordinary supervised learning through the RL interface.

Modes: ``"label"`` acts with a class label (reward = 1 if correct, fraction correct for
sequences); ``"prediction"`` acts with logits or values (reward = -loss, the task's kind says
which loss). Kinds without labels (regression, reconstruction) only take ``"prediction"``, and
it is their default.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from supervised.crossval import FoldTask
from supervised.families import TaskDistribution, TaskSequence, TaskVariant, build_family
from supervised.kinds import Kind, get_kind, label_reward
from supervised.registry import TASKS, Dataset, TaskSpec, get_task, load_task, on_register

MODES: tuple[str, ...] = ("label", "prediction")
"""Action modes: act with a class label, or with logits / values."""

PREDICTION_BOUND = 100.0
"""``mode="prediction"`` actions live in [-PREDICTION_BOUND, PREDICTION_BOUND]. SB3 needs a
finite Box; 100 is far beyond any useful logit or standardised regression value."""


def env_kwargs_of(spec: TaskSpec) -> dict[str, Any]:
    """The default kwargs of a task's env id: ``task=`` plus the declaration's own."""
    return {"task": spec.name, **spec.env_kwargs}


def task_env_ids() -> dict[str, dict[str, Any]]:
    """Every registered task's env id -> its default ``SingleStepEnv`` kwargs, from the registry."""
    return {spec.env_id: env_kwargs_of(spec) for spec in TASKS.values() if spec.listed}


# ----------------------------------------------------------------------------- rewards
def prediction_reward(action: torch.Tensor, target: torch.Tensor, kind: str | Kind) -> torch.Tensor:
    """Reward = -loss for a batch of predictions, the loss of the task's ``kind``; differentiable
    in ``action``. Returns (B,)."""
    return get_kind(kind).reward(action, target)


def fixed_dataset(
    task: str,
    split: str = "train",
    family: str | None = None,
    task_id: int | None = None,
    classes: Any = None,
    **family_kwargs: Any,
) -> Dataset:
    """The one dataset a batched env serves: ``split`` of ``task`` (only the rows of ``classes``
    when given), or of task ``task_id`` of a sequence family; ValueError for anything that changes
    task as it runs."""
    chosen = build_family(task, family, family_kwargs)
    if chosen is not None and classes is not None:
        raise ValueError("classes= picks rows of a task; it does not combine with family=")
    if chosen is None or isinstance(chosen, FoldTask):
        if task_id is not None:
            raise ValueError("task_id picks one task of a sequence family; pass family='permuted' or 'split' too")
        return load_task(task, split, classes) if chosen is None else chosen.dataset(split)
    if isinstance(chosen, TaskSequence) and task_id is not None:
        return chosen.dataset(int(task_id), split)
    if isinstance(chosen, TaskVariant) and task_id is None:
        return chosen.dataset(split)
    raise ValueError(
        f"a batched env serves one fixed task: family {family!r} needs task_id=K (a sequence family); "
        "use SingleStepEnv for schedules and task distributions"
    )


# ----------------------------------------------------------------------------- spaces
def default_mode(dataset: Dataset) -> str:
    """``label`` for kinds with labels, ``prediction`` for the others."""
    return "label" if dataset.kind.labelled else "prediction"


def check_mode(mode: str, dataset: Dataset) -> None:
    """Raise ``ValueError`` when ``mode`` is unknown or does not fit the task's kind."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "label" and not dataset.kind.labelled:
        raise ValueError(f"task {dataset.name!r} is {dataset.kind} and has no labels; use mode='prediction'")


def observation_space_for(dataset: Dataset) -> spaces.Box:
    """Box of one input x: float32, the task's bounds (e.g. [0, 1] for digits)."""
    return spaces.Box(dataset.x_low, dataset.x_high, shape=dataset.obs_shape, dtype=np.float32)


def action_space_for(dataset: Dataset, mode: str) -> spaces.Space:
    """Action space of one example: the kind's labels (Discrete / MultiDiscrete) or a bounded
    float Box of the prediction's shape."""
    check_mode(mode, dataset)
    if mode == "label":
        return dataset.kind.label_space(tuple(dataset.y.shape[1:]), dataset.n_classes)
    return spaces.Box(-PREDICTION_BOUND, PREDICTION_BOUND, shape=dataset.prediction_shape, dtype=np.float32)


# ----------------------------------------------------------------------------- single env
class SingleStepEnv(gym.Env):
    """One supervised example per episode: observe x, act = predict, reward = -loss, terminate.

    Each ``reset()`` serves the next example of a shuffled pass over the split (an epoch,
    without replacement); a new shuffle starts when the pass is used up, and ``reset(seed=s)``
    reseeds and restarts the epoch. ``info["target"]`` (after ``step``) carries y, and
    ``info[<metric>]`` the kind's metric of the action (``accuracy``, ``mse``).

    ``family=NAME`` (one the task declares) serves a task family instead, with that family's
    kwargs: a *sequence* (``permuted``, ``split``) switches to task k after the k-th step of its
    schedule, or serves only ``task_id`` when given (every task's every split is reachable);
    a *distribution* (``few-shot``, ``sine``) draws a task, serves its query examples one per
    reset, then draws the next, and every reset's info carries the task's ``support_x`` and
    ``support_y``. ``info["task_id"]`` says which task (or the how-many-th draw) is served.

    ``classes=0,1,2`` serves only the rows of those classes (labels unchanged); a reconstruction
    task whose rows have classes takes it too (an anomaly detector trained on digits 0-4).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": 4,
    }

    def __init__(
        self,
        task: str,
        split: str = "train",
        mode: str | None = None,
        render_mode: str | None = None,
        family: str | None = None,
        task_id: int | None = None,
        classes: Any = None,
        **family_kwargs: Any,
    ) -> None:
        get_task(task)  # unknown task: ValueError naming the known ones
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; choose 'rgb_array' or None")
        self.family = build_family(task, family, family_kwargs)
        """None, a :class:`TaskSequence` or a :class:`TaskDistribution`."""
        if task_id is not None and not isinstance(self.family, TaskSequence):
            raise ValueError("task_id picks one task of a sequence family; pass family='permuted' or 'split' too")
        self.task_id = 0 if task_id is None else int(task_id)
        """The task being served (a sequence family's index, or a distribution's draw count)."""
        self.fixed_task = task_id is not None
        if isinstance(self.family, TaskSequence):
            self.dataset = self.family.dataset(self.task_id, split)
        elif isinstance(self.family, TaskVariant):
            self.dataset = self.family.dataset(split)
        elif isinstance(self.family, TaskDistribution):
            self.dataset = self.family.template(split)
            self.task_id = -1  # no task drawn yet
        elif isinstance(self.family, FoldTask):
            self.dataset = self.family.dataset(split)
            self.task_id = self.family.fold
        else:
            self.dataset = load_task(task, split, classes)
        if classes is not None and self.family is not None:
            raise ValueError("classes= picks rows of a task; it does not combine with family=")
        mode = default_mode(self.dataset) if mode is None else mode
        check_mode(mode, self.dataset)
        self.task, self.split, self.mode = task, split, mode
        self.render_mode = render_mode
        self.observation_space = observation_space_for(self.dataset)
        self.action_space = action_space_for(self.dataset, mode)
        self.epoch = -1
        """Number of completed shuffles minus one; 0 during the first pass."""
        self.steps_served = 0
        """Examples served since construction: the clock of a sequence family's schedule."""
        self.meta_task = None
        """A distribution family's current task (support and query sets)."""
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
        info: dict[str, Any] = {}
        if isinstance(self.family, TaskSequence) and not self.fixed_task:
            task_id = self.family.task_at(self.steps_served)
            if task_id != self.task_id:  # the schedule switched: the next task, from a fresh pass
                self.task_id, self.dataset, self._order = task_id, self.family.dataset(task_id, self.split), None
        if isinstance(self.family, TaskDistribution):
            if self.meta_task is None or self._position >= len(self.dataset):
                self._draw_task()
            info.update(support_x=self.meta_task.support_x, support_y=self.meta_task.support_y)
        n = len(self.dataset)
        if seed is not None or self._order is None or self._position >= n:
            self._order = self.np_random.permutation(n)
            self._position = 0
            self.epoch = 0 if seed is not None else self.epoch + 1
        self._index = int(self._order[self._position])
        self._position += 1
        self.steps_served += 1
        info.update(index=self._index, epoch=self.epoch)
        if self.family is not None:
            info["task_id"] = self.task_id
        return self.dataset.x[self._index].copy(), info

    def _draw_task(self) -> None:
        """A distribution family's next task: its query set becomes the examples served."""
        self.meta_task = task = self.family.sample(self.np_random, self.split)
        rows = np.arange(len(task.query_x))
        self.dataset = replace(self.family.template(self.split), x=task.query_x, y=task.query_y, indices=rows)
        self.task_id += 1
        self._order, self._position = None, 0

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score ``action`` against the example's target; the episode always ends here."""
        if self._index is None:
            raise RuntimeError("no example to predict; call reset() before step()")
        action = self._check_action(action)
        kind = self.dataset.kind
        target = torch.tensor(self.dataset.y[self._index])[None]  # (1, *target_shape)
        batch_action = torch.as_tensor(action)[None]  # (1, *action_shape)
        info: dict[str, Any] = {"index": self._index, "target": kind.target_info(self.dataset.y[self._index])}
        if self.mode == "label":
            reward = label_reward(batch_action, target)
            info[kind.metric] = float(reward[0])
        else:
            reward = kind.reward(batch_action, target)
            info[kind.metric] = float(kind.score(batch_action, target)[0])
        if self.family is not None:
            info["task_id"] = self.task_id
        observation = self.dataset.x[self._index].copy()
        self._last_index, self._index = self._index, None
        return observation, float(reward[0]), True, False, info

    def reward_text(self) -> str:
        """What this env's reward and split are, in words (``gymlab eval`` and ``record`` print it)."""
        kind = self.dataset.kind
        if self.mode == "label":
            reward = "the fraction of positions labelled right" if self.action_space.shape else "1 for the right label"
        else:
            reward = f"-{kind.loss_name} of the prediction"
        return f"split: {self.split} ({len(self.dataset)} examples); reward: {reward} (mode={self.mode})"

    def render(self) -> np.ndarray | None:
        """The current (or last scored) input as its kind renders it; digits show as an 8x8 image."""
        if self.render_mode != "rgb_array":
            return None
        index = self._index if self._index is not None else self._last_index
        kind = self.dataset.kind
        if index is None:
            return kind.render(np.zeros(self.observation_space.shape, dtype=np.float32), 0.0, 1.0)
        return kind.render(self.dataset.x[index], self.dataset.x_low, self.dataset.x_high)

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
    ``rows`` (indices into the split) serves only those examples (a training subset).
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
        family: str | None = None,
        task_id: int | None = None,
        classes: Any = None,
        rows: np.ndarray | None = None,
        **family_kwargs: Any,
    ) -> None:
        self.dataset = fixed_dataset(task, split, family, task_id, classes, **family_kwargs)
        if rows is not None:  # serve only these rows of the split
            self.dataset = self.dataset.subset(np.asarray(rows))
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
            reward = self.dataset.kind.reward(actions, target)
        info = {"target": target, "index": index, "epoch": epoch}
        self._batch = self._next_batch()
        terminated = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        truncated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._x[self._batch[0]], reward, terminated, truncated, info

    def pending_targets(self) -> torch.Tensor:
        """The targets of the batch awaiting actions, (B,) or (B, T): what the next ``step`` scores
        against, for a learner that needs them before it acts (adversarial training; a teacher-forced
        decoder reads the target shifted right)."""
        if self._batch is None:
            raise RuntimeError("no batch to predict; call reset() before pending_targets()")
        return self._y[self._batch[0]]

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
def register_task_env(spec: TaskSpec) -> None:
    """Register one task's env id ``gymlab/<Name>-v0`` with gymnasium (a re-registered task's
    id is replaced; tasks with ``listed=False`` get none)."""
    if spec.listed:
        gym.envs.registry.pop(spec.env_id, None)
        gym.register(spec.env_id, entry_point="envs.single_step:SingleStepEnv", kwargs=env_kwargs_of(spec))


def register_envs() -> None:
    """Register every task's env id (``gymlab/Digits-v0``, ...), and every task registered later
    (``supervised.register_task``) as it is registered. Safe to call twice."""
    global _following_registry
    for spec in TASKS.values():
        if spec.env_id not in gym.envs.registry:
            register_task_env(spec)
    if not _following_registry:
        on_register(register_task_env)
        _following_registry = True


_following_registry = False  # whether register_task already registers env ids as tasks arrive


__all__ = [
    "MODES",
    "PREDICTION_BOUND",
    "SingleStepEnv",
    "SingleStepVectorEnv",
    "action_space_for",
    "default_mode",
    "observation_space_for",
    "prediction_reward",
    "register_envs",
    "task_env_ids",
]
