"""The hyperparameters every learner shares, as dataclasses (one field per hyperparameter, a
one-line docstring under each), and the range checks that name the key and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import envs
from agents.networks import ACTIVATIONS, CNN_LAYOUTS
from agents.optim import OPTIMIZERS, SCHEDULES


@dataclass
class TrainConfig:
    """Hyperparameters every learner has."""

    total_steps: int = 100_000
    """environment steps to train for"""
    n_envs: int = 8
    """environments stepped in parallel (one gymnasium vector env)"""
    vectorization: str = "auto"
    """'auto' (gymlab's vector envs: the same episodes as 'sync' with less bookkeeping; CartPole-v1
    stepped as arrays), 'sync' (gymnasium's SyncVectorEnv), 'async' (one subprocess per env) or
    'envpool' (C++ threads; CartPole-v1, Acrobot-v1, MountainCar(Continuous) and ALE/<Game>-v5 only)"""
    fast: bool = True
    """the speed machinery of agents/fast.py (stacked MLPs with a hand-written backward, numpy
    acting, a direct fused-Adam step, CartPole as arrays); false runs the readable path only"""
    learning_rate: float = 3e-4
    """initial learning rate"""
    lr_schedule: str = "constant"
    """constant | linear (to 0 at the end) | cosine"""
    lr_warmup: float = 0.0
    """fraction of training spent ramping the learning rate up from 0"""
    optimizer: str = "adam"
    """sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this (0 disables)"""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """hidden layer sizes of the actor and of the critic"""
    activation: str = "tanh"
    """tanh | relu | gelu | elu | leaky_relu | sigmoid"""
    ortho_init: bool = True
    """orthogonal initialisation (gain sqrt 2 for bodies, 0.01 for the policy head)"""
    checkpoint_every: int = 0
    """write a checkpoint every this many steps (0: ten times per run)"""
    eval_every: int = 0
    """`gymlab train`: evaluate on a separate env every this many steps, log eval/* and keep the
    best model (SB3's EvalCallback; 0: never)"""
    eval_episodes: int = 5
    """episodes per periodic evaluation (deterministic actions)"""
    threads: int = 1
    """torch CPU threads; 1 is fastest for small networks"""
    log_interval: int = 0
    """iterations between two train/*, rollout/* and time/* logs (0: about 500 points per run, as
    SB3's A2C logs every 100 of its short iterations)"""

    def check(self) -> None:
        """Raise ValueError, naming the key and the fix, for values out of range."""
        positive(self, "total_steps", "n_envs", "learning_rate", "threads", "eval_episodes")
        one_of(self, "vectorization", envs.VECTORIZATIONS)
        one_of(self, "lr_schedule", SCHEDULES)
        one_of(self, "optimizer", OPTIMIZERS)
        one_of(self, "activation", tuple(ACTIVATIONS))
        if not 0.0 <= self.lr_warmup < 1.0:
            raise ValueError(f"lr_warmup must be in [0, 1), got {self.lr_warmup}")
        for name in ("max_grad_norm", "checkpoint_every", "eval_every", "log_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 disables), got {getattr(self, name)}")
        if any(h <= 0 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")


@dataclass
class OnPolicyConfig(TrainConfig):
    """What the actor-critic learners (REINFORCE, A2C, PPO) add: the network's layout, the
    normalisation Stable-Baselines3 users know as VecNormalize (rl-baselines3-zoo's ``normalize``)
    and gSDE exploration."""

    shared: bool = False
    """one body for actor and critic instead of two"""
    log_std_init: float = 0.0
    """initial log std of Gaussian (Box) policies"""
    normalize_obs: bool = False
    """standardise observations with running statistics (kept in checkpoints; clipped to +-10)"""
    normalize_reward: bool = False
    """divide training rewards by the running std of the discounted return (clipped; logs stay raw)"""
    use_sde: bool = False
    """generalized state-dependent exploration (gSDE) for Box actions, as SB3's use_sde"""
    sde_sample_freq: int = -1
    """with use_sde: draw new exploration matrices every this many steps (-1: once per rollout)"""
    cnn: str = "auto"
    """image observations: auto | nature (Atari frames) | small (two 3x3 layers) | minatar (one 3x3 layer of 16)"""

    def check(self) -> None:
        """Raise ValueError, naming the key and the fix, for values out of range."""
        super().check()
        one_of(self, "cnn", CNN_LAYOUTS)
        if self.sde_sample_freq == 0 or self.sde_sample_freq < -1:
            raise ValueError(f"sde_sample_freq must be -1 (once per rollout) or > 0, got {self.sde_sample_freq}")


def positive(config: Any, *names: str) -> None:
    """Raise ValueError unless every named field of ``config`` is > 0."""
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def in_unit_interval(config: Any, *names: str) -> None:
    """Raise ValueError unless every named field of ``config`` is in [0, 1]."""
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")


def one_of(config: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless field ``name`` is one of ``choices``."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
