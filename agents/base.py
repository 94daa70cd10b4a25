"""The one base class: what every learner shares (config, seeding, env stepping, episode stats,
the training loop's bookkeeping, save/load). Each learner's algorithm lives in its own file."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import functools
import math
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from agents.config import TrainConfig
from agents.evaluation import evaluate_policy, make_eval_env
from agents.networks import resolve_device
from agents.optim import fit_optimizer_state, schedule
from agents.presets import build_config
from agents.presets import preset as default_preset


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, Windows, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_heap() -> int | None:
    """Hand the C heap's free pages back to the OS (glibc's ``malloc_trim(0)``; a no-op elsewhere).

    A learner whose batches change size every update (REINFORCE's whole episodes) leaves the heap
    fragmented: freed blocks of ever new sizes stay resident. Peak RSS of REINFORCE on
    LunarLander-v3 (1e6 steps, seed 4) went from 325 to 579 MB over training; trimmed after every
    update it ends at 345 MB, the same run to the step. Returns what ``malloc_trim`` returned (1 if
    memory was handed back, else 0), None where there is none."""
    trim = _malloc_trim()
    return None if trim is None else int(trim(0))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class EpisodeStats:
    """Returns and lengths of finished training episodes: the last 100 for ``rollout/*``
    and every one since the last :meth:`drain` (for the episodes log)."""

    def __init__(self, window: int = 100):
        self.returns: deque[float] = deque(maxlen=window)
        self.lengths: deque[int] = deque(maxlen=window)
        self.new: list[tuple[int, float, int]] = []  # (step, return, length)

    def record(self, info: dict, step: int) -> None:
        """Take the finished episodes out of a RecordEpisodeStatistics info dict."""
        if "_episode" not in info:
            return
        for i in np.flatnonzero(info["_episode"]):
            ret, length = float(info["episode"]["r"][i]), int(info["episode"]["l"][i])
            self.returns.append(ret)
            self.lengths.append(length)
            self.new.append((step, ret, length))

    def drain(self) -> list[tuple[int, float, int]]:
        """Episodes finished since the last call."""
        new, self.new = self.new, []
        return new

    def mean_return(self) -> float:
        """Mean return over the window (nan before the first episode)."""
        return float(np.mean(self.returns)) if self.returns else math.nan

    def state_dict(self) -> dict:
        """Plain-data state for checkpoints."""
        return {"returns": list(self.returns), "lengths": list(self.lengths)}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`."""
        self.returns.extend(state["returns"])
        self.lengths.extend(state["lengths"])


IN_PROCESS_ENV_BYTES = 256 * 1024
"""Memory of one env copy in this process, rounded up: CartPole's arrays take about 1.4 KB an env,
LunarLander's Box2D world about 17 KB, a single-step supervised env about 43 KB."""

SUBPROCESS_ENV_BYTES = 150 * 1024**2
"""Memory of one env in its own process (vectorization=async): a Python interpreter with numpy and
gymnasium imported."""


def available_memory() -> int | None:
    """Bytes the OS can still hand out (``MemAvailable``), None where that cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimated_memory(agent: Agent) -> tuple[int, int]:
    """Bytes the training envs and the experience held for one update take, as (envs, experience):
    every env's own state, and ``n_steps`` (one episode per env for a learner without it) of
    observations, actions and six float32 figures per step for every env."""
    c = agent.config
    per_env = SUBPROCESS_ENV_BYTES if c.vectorization == "async" else IN_PROCESS_ENV_BYTES
    steps = getattr(c, "n_steps", None) or agent.max_episode_steps or 1
    observation = int(np.prod(agent.observation_space.shape or (1,))) * np.dtype(np.float32).itemsize
    action = int(np.prod(agent.action_space.shape or (1,))) * np.dtype(np.float32).itemsize
    return c.n_envs * per_env, c.n_envs * steps * (observation + action + 6 * 4)


def check_memory(agent: Agent) -> None:
    """Refuse, before any env is built, a learner whose envs and experience cannot fit in memory."""
    available = available_memory()
    env_bytes, experience_bytes = estimated_memory(agent)
    if available is None or env_bytes + experience_bytes <= 0.8 * available:
        return
    gb = 1024**3
    raise ValueError(
        f"n_envs={agent.config.n_envs} needs about {(env_bytes + experience_bytes) / gb:.1f} GiB "
        f"({env_bytes / gb:.1f} for the envs, {experience_bytes / gb:.1f} for one update's experience) and "
        f"{available / gb:.1f} GiB are free; use fewer envs (--n-envs) or shorter rollouts (--set n_steps=...)"
    )


class PolicyOutputs(nn.Module):
    """An actor-critic's actor alone: observations (B, *obs_shape) -> logits or Gaussian means (B, n),
    the observation statistics applied when the learner normalises them."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(obs)[0]


class Agent:
    """Base of every learner.

    A subclass sets ``name``, ``Config`` and ``action_spaces``, builds its networks in
    :meth:`build`, and implements :meth:`train_iteration` (collect + update, returning the
    ``train/*`` metrics) and :meth:`act`. The base does the rest.
    """

    name: ClassVar[str] = "agent"
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    action_spaces: ClassVar[tuple[type[gym.Space], ...]] = (gym.spaces.Discrete, gym.spaces.Box)
    plays_one_split: ClassVar[bool] = True
    """Whether evaluation plays episodes of one task's split (False for the learners judged on samples
    or on several tasks' splits: GAN, CycleGAN, DANN, lifelong, MAML; their ``eval_lines`` name them)"""

    def __init__(
        self,
        env_id: str,
        config: TrainConfig | None = None,
        seed: int = 0,
        device: str = "auto",
        env_kwargs: dict | None = None,
        preset: bool = True,
        **hyperparameters: Any,
    ):
        """A learner on ``env_id``. Its hyperparameters are gymlab's preset for this learner and
        env (``preset=False``: the config's defaults), then ``hyperparameters`` (e.g.
        ``n_envs=8``); or exactly ``config`` when one is given. Nothing process-wide changes:
        the learner keeps its own random streams and thread count, and uses them while it
        learns, acts and evaluates."""
        if config is None:
            config = build_config(self.Config, default_preset(self.name, env_id) if preset else {}, hyperparameters)
        elif hyperparameters:
            config = build_config(self.Config, dataclasses.asdict(config), hyperparameters)
        self.config = config
        self.config.check()
        self.env_id, self.seed, self.env_kwargs = env_id, seed, dict(env_kwargs or {})
        self.requested_device = device
        self.device = resolve_device(device)
        self._random_state: dict[str, Any] | None = None  # the learner's streams while it is not running
        self._running = 0
        with self.own_process_state(fresh_seed=seed):
            probe = envs.make_env(env_id, **self.env_kwargs)
            self.observation_space, self.action_space = probe.observation_space, probe.action_space
            # the env's time limit as made (a max_episode_steps env kwarg included); None: it has none
            self.max_episode_steps = probe.spec.max_episode_steps if probe.spec is not None else None
            probe.close()
            self.check_spaces(self.observation_space, self.action_space)
            check_memory(self)
            self.rng = np.random.default_rng(seed)
            self.num_timesteps = 0
            self.iterations = 0
            self.episodes = EpisodeStats()
            self.envs: gym.vector.VectorEnv | None = None
            self.run_dir: Path | None = None  # set by attach_run when training inside a run directory
            self.writer = None
            self.reward_scaler = None  # an agents.rollout.RewardScaler when the learner scales rewards
            self.build()

    @contextlib.contextmanager
    def own_process_state(self, fresh_seed: int | None = None):
        """Run the block with this learner's random streams (torch, numpy's and Python's global
        ones) and thread count, and give the process its own back afterwards. ``fresh_seed``
        starts the streams from that seed (construction). Nested uses share one state."""
        if self._running:
            yield
            return
        threads, python, legacy = torch.get_num_threads(), random.getstate(), np.random.get_state()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self._running += 1
            try:
                torch.set_num_threads(self.config.threads)
                if fresh_seed is not None:
                    seed_everything(fresh_seed)
                else:
                    self._restore_random_state()
                yield
            finally:
                self._random_state = self._current_random_state()
                self._running -= 1
                torch.set_num_threads(threads)
                random.setstate(python)
                np.random.set_state(legacy)

    def _current_random_state(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _restore_random_state(self) -> None:
        state = self._random_state
        torch.set_rng_state(state["torch"])
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        if "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def torch_rng_state(self) -> torch.Tensor:
        """The learner's torch random stream (the live one while it runs)."""
        return torch.get_rng_state() if self._running else self._random_state["torch"]

    # ------------------------------------------------------------------ subclass interface

    def build(self) -> None:
        """Create networks and optimizers (called once from ``__init__``)."""
        raise NotImplementedError

    def train_iteration(self) -> dict[str, float]:
        """Collect experience through :meth:`env_step` and update; return ``train/*`` metrics."""
        raise NotImplementedError

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Actions for a batch of observations already on the device."""
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        """Everything with a ``state_dict`` that a checkpoint must hold."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared machinery

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Raise ValueError when this learner cannot act in ``action_space``."""
        supported = isinstance(action_space, cls.action_spaces)
        if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) != 1:
            supported = False
        if not supported:
            names = " or ".join(s.__name__ for s in cls.action_spaces)
            raise ValueError(f"{cls.name} does not support the action space {action_space}; it needs {names} actions")

    def progress(self) -> float:
        """Fraction of training done, in [0, 1]."""
        return min(1.0, self.num_timesteps / self.config.total_steps)

    def lr_now(self) -> float:
        """The scheduled learning rate at the current progress."""
        c = self.config
        return c.learning_rate * schedule(c.lr_schedule, c.lr_warmup)(self.progress())

    def attach_run(self, run_dir, writer=None) -> None:
        """Called by the training driver before training with the run directory and its
        TensorBoard SummaryWriter, for learners that write more than scalars (e.g. a GAN's
        sample grids). The base learner only keeps them."""
        self.run_dir, self.writer = Path(run_dir), writer

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """Create the training vector env and reset it. A resumed run reseeds with the step
        count so it does not replay the episodes it already saw."""
        c = self.config
        vectorization = "sync" if c.vectorization == "auto" and not c.fast else c.vectorization  # envs.native: fast
        self.envs = envs.make_vec_env(self.env_id, c.n_envs, vectorization, self.env_kwargs, video_dir, video_every)
        reset_seed = self.seed + self.num_timesteps
        self.obs, _ = self.envs.reset(seed=reset_seed)
        self.envs.action_space.seed(reset_seed)
        if self.reward_scaler is not None:
            self.reward_scaler.reset()

    def close(self) -> None:
        """Close the training envs."""
        if self.envs is not None:
            self.envs.close()
            self.envs = None

    def env_step(self, actions: np.ndarray):
        """Step the training envs, counting steps and recording finished episodes (their raw
        returns); the rewards returned are scaled when the learner has a ``reward_scaler``."""
        obs, rewards, terminated, truncated, info = self.envs.step(actions)
        self.num_timesteps += self.envs.num_envs
        self.episodes.record(info, self.num_timesteps)
        if self.reward_scaler is not None:
            rewards = self.reward_scaler(rewards, terminated | truncated)
        self.obs = obs
        return obs, rewards, terminated, truncated, info

    def to_env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Clip Gaussian samples into a Box's bounds before they reach the env (the learner
        keeps the unclipped sample for its log-prob)."""
        if isinstance(self.action_space, gym.spaces.Box):
            return np.clip(actions, self.action_space.low, self.action_space.high)
        return actions

    def obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """A batch of observations as a tensor on the learner's device."""
        return torch.as_tensor(obs, device=self.device)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of observations (numpy in, numpy out), env-ready."""
        with self.own_process_state(), torch.inference_mode():
            actions = self.act(self.obs_tensor(obs), deterministic).cpu().numpy()
        return self.to_env_actions(actions)

    def policy_fn(self, deterministic: bool = True) -> Callable[[Any], np.ndarray]:
        """One observation -> one env action (what :meth:`evaluate` and an expert play)."""
        return lambda obs: self.predict(np.asarray(obs)[None], deterministic)[0]

    def make_eval_env(self, split: str = "test") -> tuple[gym.Env, int | None]:
        """The env :meth:`evaluate` plays when none is given (:func:`make_eval_env`)."""
        return make_eval_env(self.env_id, self.env_kwargs, split)

    def evaluate(
        self,
        episodes: int = 10,
        deterministic: bool = True,
        seed: int | None = None,
        env: gym.Env | None = None,
        on_episode: Callable[[float, int], None] | None = None,
        split: str = "test",
    ) -> dict[str, float]:
        """Play ``episodes`` full episodes in one env (:meth:`make_eval_env` on ``split`` unless
        ``env`` is given, which may fix the number of episodes) and return ``mean_reward``,
        ``std_reward``, ``mean_ep_length``, and the mean of every :data:`EPISODE_INFO_METRICS`
        key the env reports at episode ends (e.g. ``accuracy``).
        Episode i is reset with ``seed + i``; in a full evaluation only the first one is
        seeded, so the others continue one pass over the split (each example once)."""
        policy = self.policy_fn(deterministic)
        with self.own_process_state():
            return evaluate_policy(self.env_id, self.env_kwargs, policy, episodes, seed, env, on_episode, split)

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """Named figures for the end of ``gymlab train`` beyond the episode return (a supervised
        run's ``val/accuracy``); ``metrics`` are the last iteration's. None by default."""
        return {}

    def learn(
        self,
        total_steps: int | None = None,
        callback: Callable[[Agent, dict[str, float]], None] | None = None,
        run_dir: str | Path | None = None,
        progress_bar: bool = False,
    ) -> Agent:
        """Train until ``total_steps`` environment steps in all (default: the config's);
        ``callback(agent, metrics)`` runs after every iteration.

        With ``run_dir``, train as ``gymlab train`` does (TensorBoard logs, episodes.csv,
        periodic evaluation, checkpoints, ``progress_bar``) into that folder: a new one, or
        the one this agent already trains in."""
        if total_steps is not None:
            self.config = dataclasses.replace(self.config, total_steps=int(total_steps))
        if run_dir is not None:
            from agents import training

            if callback is not None:
                raise ValueError("learn(run_dir=...) logs and checkpoints by itself; pass callback without run_dir")
            if self.run_dir is not None and Path(run_dir).resolve() == self.run_dir.resolve():
                training.run_training(self, Path(run_dir), quiet=not progress_bar)
            else:
                training.train_new(self, Path(run_dir), quiet=not progress_bar)
            return self
        with self.own_process_state():
            if self.envs is None:
                self.open_envs()
            while self.num_timesteps < self.config.total_steps:
                start, steps_before = time.perf_counter(), self.num_timesteps
                metrics = self.train_iteration()
                self.iterations += 1
                elapsed = time.perf_counter() - start
                metrics["time/iteration_fps"] = (self.num_timesteps - steps_before) / max(elapsed, 1e-9)
                if callback is not None:
                    callback(self, metrics)
        return self

    def save(self, run_dir: str | Path) -> Path:
        """Write this learner as a run directory (config.json and a checkpoint) that
        ``gymlab.load``, ``gymlab eval``, ``record``, ``board`` and ``--resume`` accept; returns
        the checkpoint's path."""
        from agents import runs

        return runs.save_run(self, Path(run_dir))

    @property
    def model(self) -> nn.Module:
        """The torch module that maps a batch of observations to the policy's outputs (logits or
        Gaussian means) or to predictions (a GAN's: noise to samples)."""
        if "_model" in self.__dict__:
            return self._model
        if hasattr(self, "policy"):
            return PolicyOutputs(self.policy)
        if hasattr(self, "generator"):
            return self.generator
        raise NotImplementedError(f"{self.name} does not expose a model")

    @model.setter
    def model(self, module: nn.Module) -> None:
        self._model = module

    def checkpoint_modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        """:meth:`modules`, plus the reward scaler's statistics when there is one."""
        modules = dict(self.modules())
        if self.reward_scaler is not None:
            modules["reward_rms"] = self.reward_scaler.rms
        return modules

    def state_dict(self) -> dict:
        """Everything needed to resume: weights, optimizer states, counters and RNG states.
        Plain tensors, numbers, strings, lists and dicts only (loadable with weights_only=True)."""
        return {
            "modules": {k: m.state_dict() for k, m in self.checkpoint_modules().items()},
            "num_timesteps": self.num_timesteps,
            "iterations": self.iterations,
            "episodes": self.episodes.state_dict(),
            "torch_rng": self.torch_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore from :meth:`state_dict`; ``weights_only`` loads just the networks."""
        modules = self.checkpoint_modules()
        needed = {k for k, m in modules.items() if not (weights_only and isinstance(m, torch.optim.Optimizer))}
        missing = needed - set(state["modules"])
        if missing:
            raise ValueError(f"checkpoint lacks {', '.join(sorted(missing))}; was it written by {self.name}?")
        for key in needed:
            module, saved = modules[key], state["modules"][key]
            if isinstance(module, torch.optim.Optimizer):
                saved = fit_optimizer_state(module, saved)
            module.load_state_dict(saved)
        if weights_only:
            return
        self.num_timesteps = int(state["num_timesteps"])
        self.iterations = int(state["iterations"])
        self.episodes.load_state_dict(state["episodes"])
        if self._running:
            torch.set_rng_state(state["torch_rng"])
        else:
            self._random_state = {**self._random_state, "torch": state["torch_rng"]}
        self.rng.bit_generator.state = state["numpy_rng"]
