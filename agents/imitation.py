"""Imitation learning from expert demonstrations: behaviour cloning and GAIL.

The demonstrations are a file (:mod:`envs.demos` holds the format) that ``gymlab demos`` records
from an expert, a gymlab run or a Stable-Baselines3 model (:mod:`gymlab.play`).

- **Behaviour cloning** (:class:`BC`): the demonstrations become a supervised task (observation
  -> the expert's action) served by the single-step env, whose reward BC sets to ``-bc_loss``;
  the pathwise learner (:class:`agents.supervised.Supervised`) descends it unchanged, and the
  clone then acts in the real env. Discrete actions are a classification task (:func:`bc_loss`:
  cross-entropy), a flat Box a regression task (squared error, averaged over the action's values).
- **GAIL** (:class:`GAIL`, Ho & Ermon 2016): PPO whose rewards come from a discriminator
  D(s, a) trained to tell expert transitions (label 1) from the policy's (label 0). After each
  rollout the discriminator takes ``disc_epochs`` passes over it, then every stored reward is
  replaced by ``-log(1 - D(s, a))`` (``reward=positive``, the default) or ``log D - log(1 - D)``
  (``reward=logit``) before GAE. The true env reward still reaches ``rollout/ep_rew_mean``
  through RecordEpisodeStatistics, so the curves show how well the imitation really plays.
  The discriminator, its loss and the reward are the adversarial pieces the GAN shares
  (:mod:`agents.adversarial`).
  With ``absorbing=true`` (Kostrikov et al. 2019, "Discriminator-Actor-Critic") a terminated
  episode does not end the reward: it goes on forever in an absorbing state, an extra input
  (zero observation and action, indicator 1) that D sees once per terminated episode of the
  expert (an episode shorter than the env's time limit, or every one where there is none) and
  of the policy. The terminal step's reward gains ``gamma / (1 - gamma) * r(absorbing)``,
  so neither reward sign makes ending an episode free or forced: D prices it by how often the
  expert ends episodes (in an env whose episodes end on success, as LunarLander's landing does).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.adversarial import (
    REWARDS,
    Discriminator,
    adversarial_reward,
    discriminator_accuracy,
    discriminator_loss,
    gradient_penalty,
)
from agents.base import Agent
from agents.config import positive
from agents.networks import obs_dim, preprocess
from agents.optim import clip_grad_norm, make_optimizer, set_lr
from agents.ppo import PPO, PPOConfig
from agents.supervised import Supervised, SupervisedConfig
from envs.demos import Demos, load_demos
from supervised import Kind, get_kind, register_task

DEMOS_HINT = "record them with `gymlab demos RUN_DIR --episodes 10 --out FILE.npz`"

# ============================================================================= behaviour cloning

DEMOS_ENV_ID = "gymlab/Demos-v0"
"""The single-step env that serves demonstrations as a supervised task (needs ``task=...``)."""


def demos_dataset(
    demos: Demos, observation_space: gym.Space, action_space: gym.Space
) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Demonstrations as a supervised task: ``(x, y, kind, n_classes)``. ``x`` (T, D) are the
    observations as the networks see them (flattened floats, one-hot for Discrete); ``y`` are
    class indices (Discrete actions) or the action values (a flat Box: (T,) for one value, else
    (T, n))."""
    x = preprocess(torch.as_tensor(demos.observations), observation_space).numpy()
    if isinstance(action_space, gym.spaces.Discrete):
        return x, demos.actions.astype(np.int64) - int(action_space.start), "classification", int(action_space.n)
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        y = demos.actions.reshape(len(demos), -1).astype(np.float32)
        return x, y[:, 0] if action_space.shape == (1,) else y, "regression", 0
    raise ValueError(
        f"bc clones Discrete actions or a flat Box through the supervised learner; {action_space} is neither"
    )


def bc_loss(prediction: torch.Tensor, expert_action: torch.Tensor, kind: str | Kind) -> torch.Tensor:
    """Behaviour cloning's loss per demonstrated step ``(B,)``: how far the clone's prediction is
    from the expert's action.

    classification (Discrete actions): cross-entropy ``-log softmax(prediction)[a]`` of the
    logits ``(B, n)`` at the expert's action index ``a`` ``(B,)``. regression (a flat Box): the
    squared error of the predicted values ``(B, D)`` against the expert's ``(B,)`` (D = 1) or
    ``(B, D)``, averaged over the D values.
    """
    return get_kind(kind).loss(prediction, expert_action)  # the supervised loss of the action's kind


class CloningRewards(gym.vector.VectorWrapper):
    """The demos' batched single-step env with reward ``-bc_loss(prediction, expert action)``
    ``(B,)``, with its graph: the loss the supervised learner descends while it trains BC's clone
    (a loss is a negative reward). Validation and test scores keep the env's own loss."""

    def __init__(self, env: gym.vector.VectorEnv, kind: str):
        super().__init__(env)
        self.kind = kind

    def step(self, actions: torch.Tensor):
        """Step the env; the reward is minus BC's loss of ``actions`` against the expert's (``info["target"]``)."""
        obs, _, terminated, truncated, info = self.env.step(actions)
        return obs, -bc_loss(actions, info["target"], self.kind), terminated, truncated, info


@dataclass
class BCConfig(SupervisedConfig):
    """Behaviour cloning: the supervised learner's hyperparameters, plus where the demos are."""

    demos: str = ""
    """expert demonstrations file (.npz from `gymlab demos`); needed to train and to rebuild the run"""
    demo_episodes: int = 0
    """use only the first this many episodes of the file (0: all)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        if not self.demos:
            raise ValueError(f"bc needs expert demonstrations: --set demos=FILE.npz ({DEMOS_HINT})")
        if self.demo_episodes < 0:
            raise ValueError(f"demo_episodes must be >= 0 (0: all), got {self.demo_episodes}")


class BC(Agent):
    """Behaviour cloning: a :class:`Supervised` learner trained on the demos' (observation ->
    action) task with :func:`bc_loss`, acting in the real env. ``evaluate()`` plays the real env."""

    name = "bc"
    Config = BCConfig
    config: BCConfig

    def build(self) -> None:
        """Load the demos, register them as a task, and build the supervised learner on it."""
        c = self.config
        demos = load_demos(c.demos, self.env_id, self.env_kwargs).first_episodes(c.demo_episodes)
        x, y, kind, n_classes = demos_dataset(demos, self.observation_space, self.action_space)
        task = "demos-" + hashlib.sha1(x.tobytes() + y.tobytes()).hexdigest()[:12]
        # no env id of its own: the demos are served through DEMOS_ENV_ID with task=...
        register_task(task, load=lambda: (x, y), kind=kind, n_classes=n_classes, listed=False, replace=True)
        if DEMOS_ENV_ID not in gym.envs.registry:
            gym.register(DEMOS_ENV_ID, entry_point="envs.single_step:SingleStepEnv")
        learner_config = SupervisedConfig(**{f.name: getattr(c, f.name) for f in dataclasses.fields(SupervisedConfig)})
        self.learner = Supervised(
            DEMOS_ENV_ID, learner_config, seed=self.seed, device=self.device, env_kwargs={"task": task}
        )
        self.kind = kind  # which bc_loss the clone is trained with
        self.expert_return = demos.expert_return
        self.config = dataclasses.replace(c, total_steps=self.learner.config.total_steps)  # epochs -> steps

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        """The supervised learner's network(s) and optimizer."""
        return self.learner.modules()

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """The clone's action for raw env observations."""
        actions = self.learner.act(preprocess(obs, self.observation_space), deterministic)
        if isinstance(self.action_space, gym.spaces.Discrete):
            return actions + int(self.action_space.start)
        return actions  # (B, n)

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The supervised learner's batched env over the demos, rewarding ``-bc_loss`` (no video:
        nothing is played)."""
        self.learner.open_envs()
        self.learner.envs = CloningRewards(self.learner.envs, self.kind)
        self.envs, self.obs = self.learner.envs, self.learner.obs

    def close(self) -> None:
        """Close the learner's env."""
        self.learner.close()
        self.envs = None

    def train_iteration(self) -> dict[str, float]:
        """One pass of the supervised learner over the demos' train split, then its validation."""
        learner = self.learner
        learner.config = dataclasses.replace(learner.config, total_steps=self.config.total_steps)
        metrics = learner.train_iteration()
        self.num_timesteps = learner.num_timesteps
        # early stopping ends the learner's budget; end ours with it
        self.config = dataclasses.replace(self.config, total_steps=learner.config.total_steps)
        renamed = {
            "eval/loss": "train/val_loss",
            "eval/accuracy": "train/val_expert_agreement",
            "eval/mse": "train/val_mse",
        }
        return {renamed.get(k, k): v for k, v in metrics.items()}

    def summary_lines(self, metrics: dict[str, float]) -> list[str]:
        """The end of ``gymlab train``: how well the clone matches held-out expert steps (the
        last iteration's ``metrics``), each figure with how to read it."""
        lines = []
        if "train/val_expert_agreement" in metrics:
            lines.append(
                f"agreement:   {metrics['train/val_expert_agreement']:.3f} (fraction of held-out expert steps where "
                "the clone takes the expert's action; 1 = a perfect copy)"
            )
        if "train/val_mse" in metrics:
            lines.append(
                f"action mse:  {metrics['train/val_mse']:.4f} (mean squared error of the clone's actions on held-out "
                "expert steps; 0 = a perfect copy)"
            )
        return lines + [self.expert_line()]

    def eval_lines(self, stats: dict[str, float]) -> list[str]:
        """``gymlab eval``'s extra line: the expert's return, the clone's target."""
        return [self.expert_line()]

    def expert_line(self) -> str:
        """The demos' mean return, for comparing the clone's."""
        return (
            f"expert:      {self.expert_return:.2f} mean return in the demos (the clone's target; "
            "gymlab eval plays the clone for its own)"
        )

    def state_dict(self) -> dict:
        """The supervised learner's state (weights, optimizer, early stopping, counters)."""
        state = self.learner.state_dict()
        state["iterations"] = self.iterations
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore from :meth:`state_dict`."""
        self.learner.load_state_dict(state, weights_only)
        if not weights_only:
            self.num_timesteps, self.iterations = self.learner.num_timesteps, self.learner.iterations
            self.config = dataclasses.replace(self.config, total_steps=self.learner.config.total_steps)


# ============================================================================= GAIL


@dataclass
class GAILConfig(PPOConfig):
    """GAIL: PPO's hyperparameters for the policy, plus the discriminator's."""

    demos: str = ""
    """expert demonstrations file (.npz from `gymlab demos`); needed to train and to rebuild the run"""
    demo_episodes: int = 0
    """use only the first this many episodes of the file (0: all)"""
    reward: str = "positive"
    """positive: -log(1 - D(s, a)) > 0 (GAIL's) | logit: log D - log(1 - D) (AIRL's, no length bias)"""
    disc_hidden: list[int] = field(default_factory=lambda: [64, 64])
    """hidden layer sizes of the discriminator D(s, a)"""
    disc_learning_rate: float = 3e-4
    """discriminator learning rate (Adam; follows lr_schedule)"""
    disc_epochs: int = 2
    """discriminator passes over each rollout"""
    disc_batch_size: int = 128
    """policy transitions per discriminator minibatch (with as many expert transitions)"""
    gp_coef: float = 0.0
    """gradient penalty weight on the discriminator (WGAN-GP's, at expert/policy interpolates; 0 disables)"""
    absorbing: bool = False
    """a terminated episode goes on in an absorbing state that D also judges (DAC's fix of the length bias)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        if not self.demos:
            raise ValueError(f"gail needs expert demonstrations: --set demos=FILE.npz ({DEMOS_HINT})")
        positive(self, "disc_learning_rate", "disc_epochs", "disc_batch_size")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}; got {self.reward!r}")
        if self.demo_episodes < 0 or self.gp_coef < 0:
            raise ValueError("demo_episodes and gp_coef must be >= 0")
        if self.normalize_reward:
            raise ValueError("gail trains on the discriminator's rewards, not the env's; set normalize_reward=false")


def transition_features(
    obs: torch.Tensor, actions: torch.Tensor, observation_space: gym.Space, action_space: gym.Space
) -> torch.Tensor:
    """The discriminator's input for (s, a) pairs: ``(B, obs_dim + action_dim)`` floats, with
    Discrete actions one-hot."""
    x = preprocess(obs, observation_space).flatten(1)  # (B, obs_dim)
    if isinstance(action_space, gym.spaces.Discrete):
        a = nn.functional.one_hot(actions.long() - int(action_space.start), int(action_space.n)).float()
    else:
        a = actions.float().reshape(len(actions), -1)  # (B, action_dim)
    return torch.cat([x, a], dim=1)


class GAIL(PPO):
    """PPO on a learned reward: a discriminator D(s, a) between expert and policy transitions."""

    name = "gail"
    Config = GAILConfig
    config: GAILConfig

    def build(self) -> None:
        """PPO's networks, the discriminator and its optimizer, and the expert transitions
        (loaded here, so a bad demos file fails before a run directory is written)."""
        super().build()
        c = self.config
        in_dim = obs_dim(self.observation_space) + obs_dim(self.action_space)  # one-hot for Discrete
        in_dim += int(c.absorbing)  # the absorbing-state indicator
        self.disc_in_dim = in_dim
        self.discriminator = Discriminator(in_dim, c.disc_hidden, c.activation).to(self.device)
        self.disc_optimizer = make_optimizer(self.discriminator.parameters(), c.optimizer, c.disc_learning_rate)
        demos = load_demos(c.demos, self.env_id, self.env_kwargs).first_episodes(c.demo_episodes)
        self.expert = self.features(demos.observations, demos.actions)  # (E, in_dim)
        if c.absorbing:
            # terminated, not cut by the time limit
            ended = demos.episode_lengths() < (self.max_episode_steps or np.inf)
            self.expert = torch.cat([self.expert, self.absorbing_state().expand(int(ended.sum()), -1)])
        self.expert_return = demos.expert_return
        self.disc_metrics: dict[str, float] = {}

    def modules(self):
        """PPO's policy and optimizer, the discriminator and its optimizer."""
        return {**super().modules(), "discriminator": self.discriminator, "disc_optimizer": self.disc_optimizer}

    def features(self, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """Discriminator inputs for numpy (s, a) batches, on the device (with a 0 indicator
        column when ``absorbing``)."""
        x = transition_features(
            self.obs_tensor(obs),
            torch.as_tensor(actions, device=self.device),
            self.observation_space,
            self.action_space,
        )
        if self.config.absorbing:
            x = torch.cat([x, x.new_zeros(len(x), 1)], dim=1)
        return x

    def absorbing_state(self) -> torch.Tensor:
        """The absorbing state's discriminator input ``(1, in_dim)``: zeros, indicator 1."""
        x = torch.zeros(1, self.disc_in_dim, device=self.device)
        x[0, -1] = 1.0
        return x

    def collect(self) -> np.ndarray:
        """PPO's rollout, then a discriminator update on it, then the env rewards in the buffer
        replaced by the discriminator's (before GAE sees them)."""
        last_values = super().collect()
        buffer = self.buffer
        steps, n_envs = buffer.rewards.shape
        policy = self.features(
            buffer.obs.reshape(steps * n_envs, *buffer.obs.shape[2:]),
            buffer.actions.reshape(steps * n_envs, *buffer.actions.shape[2:]),
        )  # (T*N, d)
        c = self.config
        terminated = torch.as_tensor(buffer.terminated.reshape(-1), device=self.device)  # (T*N,)
        if c.absorbing:
            ended = int(terminated.sum())
            self.disc_metrics = self.update_discriminator(torch.cat([policy, self.absorbing_state().expand(ended, -1)]))
        else:
            self.disc_metrics = self.update_discriminator(policy)
        with torch.no_grad():
            rewards = adversarial_reward(self.discriminator(policy), c.reward)  # (T*N,)
            if c.absorbing:
                absorbing_reward = adversarial_reward(self.discriminator(self.absorbing_state()), c.reward)  # (1,)
                self.disc_metrics["train/disc_absorbing_reward"] = float(absorbing_reward)
                # the absorbing state's discounted sum from the step after termination on
                rewards = rewards + terminated * absorbing_reward * c.gamma / (1.0 - c.gamma)
        buffer.rewards[:] = rewards.reshape(steps, n_envs).cpu().numpy()
        self.disc_metrics["train/disc_reward_mean"] = float(rewards.mean())
        return last_values

    def update_discriminator(self, policy: torch.Tensor) -> dict[str, float]:
        """``disc_epochs`` passes over the rollout's transitions ``policy`` (P, d), each minibatch
        against as many expert transitions drawn at random. Returns the ``train/disc_*`` metrics."""
        c, expert = self.config, self.expert
        set_lr(self.disc_optimizer, c.disc_learning_rate * self.lr_now() / c.learning_rate)
        losses = []
        for _ in range(c.disc_epochs):
            order = torch.as_tensor(self.rng.permutation(len(policy)), device=self.device)
            for start in range(0, len(policy), c.disc_batch_size):
                fake = policy[order[start : start + c.disc_batch_size]]
                real = expert[torch.as_tensor(self.rng.integers(0, len(expert), len(fake)), device=self.device)]
                loss = discriminator_loss(self.discriminator(real), self.discriminator(fake), "standard")
                if c.gp_coef > 0:
                    loss = loss + c.gp_coef * gradient_penalty(self.discriminator, real, fake)
                self.disc_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm(list(self.discriminator.parameters()), c.max_grad_norm)
                self.disc_optimizer.step()
                losses.append(loss.detach())
        with torch.no_grad():
            sample = expert[torch.as_tensor(self.rng.integers(0, len(expert), len(policy)), device=self.device)]
            expert_acc, policy_acc = discriminator_accuracy(self.discriminator(sample), self.discriminator(policy))
        return {
            "train/disc_loss": float(torch.stack(losses).mean()),
            "train/disc_expert_acc": expert_acc,
            "train/disc_policy_acc": policy_acc,
        }

    def train_iteration(self) -> dict[str, float]:
        """PPO's iteration (whose rollout trains the discriminator), plus the discriminator's metrics."""
        metrics = super().train_iteration()
        metrics.update(self.disc_metrics)
        return metrics
