"""Knowledge distillation (HW13; Hinton, Vinyals and Dean 2015): a small student learns from the
soft outputs of a trained teacher.

The student's loss on an example, :func:`distillation_loss`, is

    alpha * T^2 * KL( softmax(teacher / T) || softmax(student / T) )  +  (1 - alpha) * CE(student, y)

where the temperature ``T`` softens both distributions so the teacher's small probabilities
("this 3 looks a bit like an 8") carry signal, and ``T^2`` keeps the soft gradients' scale
independent of ``T``. With ``labels=N`` only the first N examples of the train split have a hard
label ``y`` (semi-supervised: the teacher labels the rest).

Distillation is behaviour cloning of the teacher's soft outputs, so :class:`Distill` is built on
:class:`agents.imitation.BC`: a :class:`agents.supervised.Supervised` student descends the
single-step env's reward, here ``-distillation_loss``.

- A **classifier** teacher (a run on a classification task, e.g. gymlab/Digits-v0): the student
  trains on the same task's train split, the teacher's logits computed on each batch it sees.
- A **policy** teacher (a PPO or A2C run on a Discrete-action env, e.g. CartPole-v1): the teacher
  plays ``teacher_steps`` steps (its most likely actions); the states it visits, labelled with its
  actions, become a classification task that the student learns the teacher's action distribution
  on; the student then acts in the real env.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import envs
from agents.base import Agent
from agents.config import positive
from agents.imitation import BC, DEMOS_ENV_ID
from agents.supervised import Supervised, SupervisedConfig
from envs.single_step import SingleStepEnv
from supervised import register_task


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    temperature: float,
    alpha: float = 1.0,
    labelled: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example distillation loss ``(B,)``: ``alpha * T^2 * KL(p_teacher^T || p_student^T)``
    plus ``(1 - alpha) * CE(student_logits, target)`` on the examples where ``labelled`` (B,) bool
    is True (all when None). Logits ``(B, C)``, integer targets ``(B,)``."""
    student_log_p = F.log_softmax(student_logits / temperature, dim=-1)  # (B, C)
    teacher_log_p = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)  # (B, C)
    kl = (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(-1)  # (B,)
    hard = F.cross_entropy(student_logits, target.long(), reduction="none")  # (B,)
    if labelled is not None:
        hard = hard * labelled.to(hard.dtype)
    return alpha * temperature**2 * kl + (1.0 - alpha) * hard


class DistillationRewards(gym.vector.VectorWrapper):
    """The student's batched single-step env with reward ``-distillation_loss`` ``(B,)`` (with its
    graph): the teacher's logits are computed on the batch being scored, the hard label counts for
    rows of the train split below ``labels`` (all when 0)."""

    def __init__(self, env, first_obs: torch.Tensor, teacher: nn.Module, temperature: float, alpha: float, labels: int):
        super().__init__(env)
        self.scored = first_obs  # the batch the next actions are for (same-step autoreset)
        self.teacher, self.temperature, self.alpha, self.labels = teacher, temperature, alpha, labels

    def step(self, actions: torch.Tensor):
        """Score the student's logits ``actions`` (B, C) against the teacher's on the same batch."""
        with torch.no_grad():
            teacher_logits = self.teacher(self.scored)  # (B, C)
        obs, _, terminated, truncated, info = self.env.step(actions)
        labelled = info["index"] < self.labels if self.labels else None
        reward = -distillation_loss(actions, teacher_logits, info["target"], self.temperature, self.alpha, labelled)
        self.scored = obs
        return obs, reward, terminated, truncated, info


@dataclass
class DistillConfig(SupervisedConfig):
    """Distillation: the supervised learner's hyperparameters (the student's network), plus the teacher."""

    teacher: str = ""
    """the teacher's run directory (a classifier on this task, or a policy on this env)"""
    temperature: float = 4.0
    """softmax temperature T of both teacher and student in the soft loss"""
    alpha: float = 0.9
    """weight of the soft (teacher) loss; 1 - alpha weighs the hard-label cross-entropy"""
    labels: int = 0
    """only the first this many train examples keep their hard label (0: all)"""
    teacher_steps: int = 20_000
    """policy teacher: env steps it plays; the states it visits are the student's data"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        if not self.teacher:
            raise ValueError("distill needs a teacher: --set teacher=RUN_DIR (a run made by gymlab train)")
        positive(self, "temperature", "teacher_steps")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] (the soft loss's weight), got {self.alpha}")
        if self.labels < 0:
            raise ValueError(f"labels must be >= 0 (0: every train example keeps its label), got {self.labels}")


def teacher_states(teacher: Agent, env_id: str, env_kwargs: dict, steps: int, seed: int) -> np.ndarray:
    """Observations ``(steps, *obs_shape)`` float32 that ``teacher`` visits playing ``env_id`` with its
    most likely actions in 8 envs (episodes reset as they end)."""
    n_envs = min(8, steps)
    vec = envs.make_vec_env(env_id, n_envs, "sync", env_kwargs)
    obs, _ = vec.reset(seed=seed)
    states = []
    for _ in range(-(-steps // n_envs)):
        states.append(np.asarray(obs, dtype=np.float32))
        obs, *_ = vec.step(teacher.predict(obs, deterministic=True))
    vec.close()
    return np.concatenate(states)[:steps]


class Distill(BC):
    """A student trained on a teacher's soft outputs (:func:`distillation_loss`); see the module
    docstring for the classifier and the policy case."""

    name = "distill"
    Config = DistillConfig
    config: DistillConfig
    action_spaces = (gym.spaces.Discrete,)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Discrete actions or class labels: the teacher's outputs are a softmax."""
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(f"distill learns a softmax over classes or Discrete actions, not {action_space}")

    def build(self) -> None:
        """Load the teacher; build the student on this task, or on the states the teacher visits."""
        from agents import runs

        c = self.config
        _, self.teacher = runs.load_run(c.teacher, str(self.device))
        probe = envs.make_env(self.env_id, **self.env_kwargs)
        self.on_task = isinstance(probe.unwrapped, SingleStepEnv)
        probe.close()
        learner_config = SupervisedConfig(**{f.name: getattr(c, f.name) for f in dataclasses.fields(SupervisedConfig)})
        if self.on_task:
            self.learner = Supervised(self.env_id, learner_config, self.seed, self.device, self.env_kwargs)
            if self.learner.train_set.kind.name != "classification":
                raise ValueError(f"distill needs a classification task; {self.env_id} is {self.learner.train_set.kind}")
        else:
            if not (isinstance(self.observation_space, gym.spaces.Box) and len(self.observation_space.shape) == 1):
                raise ValueError(
                    f"distill on a gymnasium env needs flat Box observations, not {self.observation_space}"
                )
            x = teacher_states(self.teacher, self.env_id, self.env_kwargs, c.teacher_steps, self.seed)  # (N, D)
            y = self.teacher.predict(x, deterministic=True).astype(np.int64) - int(self.action_space.start)  # (N,)
            task = "teacher-" + hashlib.sha1(x.tobytes()).hexdigest()[:12]
            register_task(task, load=lambda: (x, y), kind="classification", n_classes=int(self.action_space.n),
                          listed=False, replace=True)  # fmt: skip
            if DEMOS_ENV_ID not in gym.envs.registry:
                gym.register(DEMOS_ENV_ID, entry_point="envs.single_step:SingleStepEnv")
            self.learner = Supervised(DEMOS_ENV_ID, learner_config, self.seed, self.device, {"task": task})
        probe_obs = torch.as_tensor(np.array(self.learner.train_set.x[:2]), device=self.device)
        with torch.no_grad():
            shapes = (tuple(self.teacher.model(probe_obs).shape), tuple(self.learner.model(probe_obs).shape))
        if shapes[0] != shapes[1]:
            raise ValueError(f"the teacher's outputs {shapes[0]} do not match the student's {shapes[1]}")
        self.kind = "classification"
        self.config = dataclasses.replace(c, total_steps=self.learner.config.total_steps)  # epochs -> steps

    @property
    def model(self) -> nn.Module:
        """The student network: observations -> logits."""
        return self.learner.model

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The student's batched env, rewarding ``-distillation_loss``."""
        c = self.config
        self.learner.open_envs()
        self.learner.envs = DistillationRewards(
            self.learner.envs, self.learner.obs, self.teacher.model, c.temperature, c.alpha, c.labels
        )
        self.envs, self.obs = self.learner.envs, self.learner.obs

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """The student's labels (a task) or actions (an env)."""
        if self.on_task:
            return self.learner.act(obs, deterministic)
        return super().act(obs, deterministic)

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split: str = "test"
    ) -> dict[str, float]:
        """A task: the student scored on the whole ``split`` (:meth:`Supervised.evaluate`); an env:
        the student plays ``episodes`` episodes."""
        if self.on_task and env is None:
            with self.own_process_state():
                return self.learner.evaluate(episodes, deterministic, seed, None, on_episode, split)
        return super().evaluate(episodes, deterministic, seed, env, on_episode, split)

    def train_iteration(self) -> dict[str, float]:
        """One pass of the student over its train split, then its validation score (on a policy's
        states, agreement with the teacher's actions)."""
        learner = self.learner
        learner.config = dataclasses.replace(learner.config, total_steps=self.config.total_steps)
        metrics = learner.train_iteration()
        self.num_timesteps = learner.num_timesteps
        self.config = dataclasses.replace(self.config, total_steps=learner.config.total_steps)
        if not self.on_task:
            metrics = {"train/val_teacher_agreement" if k == "eval/accuracy" else k: v for k, v in metrics.items()}
        return metrics

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """A task: the student's validation accuracy."""
        return self.learner.summary(metrics) if self.on_task else {}

    def summary_lines(self, metrics: dict[str, float]) -> list[str]:
        """How closely the student follows the teacher (a policy) and how big each is."""
        lines = []
        if "train/val_teacher_agreement" in metrics:
            lines.append(
                f"agreement:   {metrics['train/val_teacher_agreement']:.3f} (fraction of held-out teacher states "
                "where the student takes the teacher's action)"
            )
        return lines + [self.size_line()]

    def eval_lines(self, stats: dict[str, float]) -> list[str] | None:
        """``gymlab eval``: the sizes of student and teacher."""
        skip = ("mean_reward", "std_reward", "mean_ep_length")
        return [f"{key}: {value:.4f}" for key, value in stats.items() if key not in skip] + [self.size_line()]

    def size_line(self) -> str:
        """Parameters of student and teacher."""
        student = sum(p.numel() for p in self.model.parameters())
        teacher = sum(p.numel() for p in self.teacher.model.parameters())
        return f"student:     {student} parameters (teacher: {teacher}, {teacher / student:.1f}x more)"
