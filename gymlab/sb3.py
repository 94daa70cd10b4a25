"""Stable-Baselines3 interop, all of it: SB3 model files read and played, gymlab runs written
as SB3 models, and SB3 models as the starting weights of a gymlab run.

- **Reading** (:func:`load_sb3_model`): an SB3 ``.zip`` (PPO, A2C, DQN, SAC, TD3) checked against
  the env it is to play, and the VecNormalize statistics saved beside it
  (:func:`vecnormalize_path`, :func:`load_vecnormalize`). SB3 unpickles parts of its files (and
  the statistics are a pickle): only load models you trust.
- **Playing** (:class:`SB3Player`, :func:`sb3_policy`): what ``gymlab eval``, ``record`` and
  ``demos`` play when given a ``.zip``.
- **Exporting** (``gymlab export RUN_DIR OUT.zip``, :func:`export_run`) and **starting from SB3**
  (``gymlab train --init-from MODEL.zip``, :func:`from_sb3`): a PPO or A2C run with MLP bodies is
  the network SB3's ``MlpPolicy`` builds (separate actor and critic, the same layers and
  activation), so :func:`sb3_parameter_pairs` pairs their weights one to one and the copy
  predicts what the original does. :func:`sb3_kwargs` (a gymlab config translated to SB3's
  constructor) is shared with the benchmarks, which train SB3 with the same hyperparameters.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from agents import runs
from agents.base import Agent
from agents.evaluation import evaluate_policy
from agents.networks import ActorCritic, GaussianHead

# ============================================================================= reading SB3 models

SB3_ALGORITHMS: tuple[tuple[str, str], ...] = (
    ("clip_range", "PPO"),
    ("exploration_final_eps", "DQN"),
    ("target_entropy", "SAC"),
    ("policy_delay", "TD3"),
    ("n_steps", "A2C"),
)
"""(a key only that algorithm saves in its ``data`` member, SB3 class), checked in order."""


def sb3_algorithm(path: Path) -> str:
    """Name of the Stable-Baselines3 class that saved the model ``path``, read from the JSON
    ``data`` member of its zip (nothing is unpickled to find out)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a readable Stable-Baselines3 model ({type(e).__name__})") from None
    for key, algorithm in SB3_ALGORITHMS:
        if key in data:
            return algorithm
    raise ValueError(f"cannot tell which Stable-Baselines3 algorithm saved {path}")


def is_sb3_model(path: str | Path) -> bool:
    """Whether ``path`` names a model file as Stable-Baselines3 saves them (a .zip)."""
    return Path(path).suffix == ".zip" and Path(path).is_file()


def load_sb3_model(path: str | Path, env_id: str | None, device: str = "cpu", env_kwargs: dict | None = None):
    """A Stable-Baselines3 model (PPO, A2C, DQN, SAC, TD3) from its .zip, checked against the
    spaces of ``env_id`` (made with ``env_kwargs``); SB3 files do not record their env, so
    ``env_id`` is required. SB3 unpickles parts of its files: only load models you trust."""
    if env_id is None:
        raise ValueError(f"{path} is a Stable-Baselines3 model, which does not record its env; add --env ENV_ID")
    envs.check_env_id(env_id)
    import stable_baselines3

    cls = getattr(stable_baselines3, sb3_algorithm(Path(path)))
    try:
        model = cls.load(path, device=device)
    except Exception as e:  # a damaged member surfaces as many kinds of error inside SB3 and torch
        raise ValueError(f"{path} is not a readable Stable-Baselines3 model ({type(e).__name__})") from None
    env = envs.make_env(env_id, **(env_kwargs or {}))
    spaces = env.observation_space, env.action_space
    env.close()
    if not (space_fits(model.observation_space, spaces[0]) and space_fits(model.action_space, spaces[1])):
        raise ValueError(
            f"{path} observes {envs.make.space_text(model.observation_space)} and acts in "
            f"{envs.make.space_text(model.action_space)}, which do not fit {env_id}; pass the env it was trained on"
        )
    return model


def space_fits(model_space: gym.Space, env_space: gym.Space) -> bool:
    """Whether an SB3 model's space is the env's: the same kind and size (SB3 keeps image
    observations channel-first, and transposes the env's channel-last frames itself)."""
    if type(model_space) is not type(env_space):
        return False
    if isinstance(env_space, gym.spaces.Discrete):
        return model_space.n == env_space.n
    if isinstance(env_space, gym.spaces.MultiDiscrete):
        return np.array_equal(model_space.nvec, env_space.nvec)
    shape, env_shape = model_space.shape, env_space.shape
    return shape == env_shape or (len(env_shape) == 3 and shape == (env_shape[2], *env_shape[:2]))


def vecnormalize_path(model_path: str | Path) -> Path | None:
    """The VecNormalize statistics saved for the SB3 model at ``model_path``, if any: ``NAME.vecnormalize.pkl``
    beside ``NAME.zip`` (what ``gymlab export`` writes), else ``NAME/vecnormalize.pkl`` (where
    rl-baselines3-zoo saves them for ``NAME.zip``)."""
    model_path = Path(model_path)
    for candidate in (
        model_path.with_name(model_path.stem + ".vecnormalize.pkl"),
        model_path.with_name(model_path.stem) / "vecnormalize.pkl",
    ):
        if candidate.is_file():
            return candidate
    return None


def load_vecnormalize(path: Path, observation_space: gym.Space):
    """SB3 VecNormalize statistics from ``path`` (a pickle: only load files you trust), checked against
    the model's observation space; what :func:`sb3_policy` standardises observations with."""
    import pickle

    try:
        with open(path, "rb") as f:
            stats = pickle.load(f)
        shape = np.shape(stats.obs_rms.mean) if stats.norm_obs else None
    except Exception as e:  # a damaged pickle surfaces as many kinds of error
        raise ValueError(f"{path} is not readable VecNormalize statistics ({type(e).__name__})") from None
    if shape is not None and shape != observation_space.shape:
        raise ValueError(f"{path} normalises observations of shape {shape}, not the model's {observation_space.shape}")
    return stats


def sb3_policy(model, deterministic: bool = True, vecnormalize=None) -> Callable[[np.ndarray], np.ndarray]:
    """One observation -> one env action from an SB3 model (the 0-d array SB3 gives for a
    Discrete action becomes the scalar a Discrete env indexes with); with ``vecnormalize`` (SB3
    VecNormalize statistics), the observation is standardised first, as in training."""

    def policy(obs: np.ndarray) -> np.ndarray:
        if vecnormalize is not None:
            obs = vecnormalize.normalize_obs(obs)
        action = model.predict(obs, deterministic=deterministic)[0]
        return action[()] if np.ndim(action) == 0 else action

    return policy


# ============================================================================= playing SB3 models


class SB3Player:
    """A Stable-Baselines3 model (.zip) as ``gymlab eval`` and ``gymlab record`` play it: the same
    episodes (reset with ``seed + i``) and the same figures as for a gymlab run. VecNormalize
    statistics saved beside the model (:func:`vecnormalize_path`) standardise its
    observations; Atari wrappers are not rebuilt. SB3 unpickles parts of its files (and the
    statistics are a pickle): only load models you trust."""

    def __init__(self, path: str | Path, env_id: str | None, device: str = "cpu", env_kwargs: dict | None = None):
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.model = load_sb3_model(path, env_id, device, self.env_kwargs)
        self.name = f"sb3-{sb3_algorithm(Path(path)).lower()}"
        self.num_timesteps = int(self.model.num_timesteps)
        self.vecnormalize_path = vecnormalize_path(path)
        self.vecnormalize = None
        if self.vecnormalize_path is not None:
            self.vecnormalize = load_vecnormalize(self.vecnormalize_path, self.model.observation_space)

    def policy_fn(self, deterministic: bool = True):
        """One observation -> one env action, as :meth:`agents.base.Agent.policy_fn`."""
        return sb3_policy(self.model, deterministic, self.vecnormalize)

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split="test"
    ) -> dict[str, float]:
        """As :meth:`agents.base.Agent.evaluate`: on ``env`` if given, else a fresh env (a
        single-step env's whole test split)."""
        policy = self.policy_fn(deterministic)
        return evaluate_policy(self.env_id, self.env_kwargs, policy, episodes, seed, env, on_episode, split)


# ============================================================================= gymlab runs <-> SB3 models


def sb3_parameter_pairs(policy: ActorCritic, their_policy) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(gymlab tensor, SB3 tensor) for every parameter of an actor-critic with separate MLP actor and
    critic bodies and of the SB3 ``ActorCriticPolicy`` (MlpPolicy) of the same layout: the
    bodies' layers, the actor head (``action_net``), the critic head (``value_net``) and a
    Gaussian head's ``log_std``. The two compute the same function when the pairs hold equal values."""
    bodies = [[(m.weight, m.bias) for m in net if isinstance(m, nn.Linear)] for net in (policy.pi_body, policy.vf_body)]
    theirs = [their_policy.mlp_extractor.policy_net, their_policy.mlp_extractor.value_net]
    pairs = []
    for layers, net in zip(bodies, theirs, strict=True):
        linears = [m for m in net if isinstance(m, nn.Linear)]
        for (weight, bias), linear in zip(layers, linears, strict=True):
            pairs += [(weight, linear.weight), (bias, linear.bias)]
    for mine, their in [(policy.head.linear, their_policy.action_net), (policy.vf_head, their_policy.value_net)]:
        pairs += [(mine.weight, their.weight), (mine.bias, their.bias)]
    if isinstance(policy.head, GaussianHead):
        pairs.append((policy.head.log_std, their_policy.log_std))
    return pairs


EXPORTABLE = ("ppo", "a2c")
"""Learners with an SB3 counterpart of the same algorithm."""

SB3_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "elu": torch.nn.ELU,
                   "leaky_relu": torch.nn.LeakyReLU}  # fmt: skip
"""gymlab's activation names -> the ``activation_fn`` of SB3's policies."""


def _schedule(value: float, name: str, strict: bool):
    """SB3's form of a gymlab schedule: a constant, or a function of the progress remaining."""
    if name == "linear":
        return lambda progress_remaining: progress_remaining * value
    if name != "constant" and strict:
        raise ValueError(f"no SB3 translation for schedule {name!r}")
    return value


def sb3_kwargs(agent: str, config, strict: bool = True) -> dict[str, Any]:
    """SB3 constructor kwargs equivalent to a gymlab config (PPO or A2C): same hyperparameters,
    same network (separate actor and critic MLPs, orthogonal init), same optimizer.

    ``strict`` raises ValueError for settings SB3 lacks (a learning-rate warm-up, cosine
    schedules, other optimizers); without it they are left at SB3's defaults (a schedule at its
    starting value)."""
    hidden = list(config.hidden)
    shared = getattr(config, "shared", False)
    policy_kwargs: dict[str, Any] = {
        "net_arch": hidden if shared else {"pi": hidden, "vf": hidden},
        "activation_fn": SB3_ACTIVATIONS[config.activation],
        "ortho_init": config.ortho_init,
    }
    if getattr(config, "log_std_init", 0.0):
        policy_kwargs["log_std_init"] = config.log_std_init
    kwargs: dict[str, Any] = {
        "learning_rate": _schedule(config.learning_rate, config.lr_schedule, strict),
        "gamma": config.gamma,
        "gae_lambda": config.gae_lambda,
        "ent_coef": config.ent_coef,
        "vf_coef": config.vf_coef,
        "max_grad_norm": config.max_grad_norm if config.max_grad_norm > 0 else 1e9,
        "n_steps": config.n_steps,
        "normalize_advantage": config.normalize_advantage,
    }
    if config.use_sde:
        kwargs.update(use_sde=True, sde_sample_freq=config.sde_sample_freq)
    if config.lr_warmup and strict:
        raise ValueError("SB3 has no learning-rate warm-up; benchmark without lr_warmup")
    if agent == "ppo":
        kwargs.update(
            batch_size=config.batch_size,
            n_epochs=config.n_epochs,
            clip_range=_schedule(config.clip_range, config.clip_schedule, strict),
            clip_range_vf=config.clip_range_vf or None,
            target_kl=config.target_kl or None,
        )
        if config.optimizer == "adam":
            policy_kwargs["optimizer_kwargs"] = {"eps": 1e-5}
        elif strict:
            raise ValueError("SB3 PPO uses Adam; benchmark PPO with optimizer=adam")
    elif agent == "a2c":
        if config.optimizer in ("rmsprop", "adam"):
            kwargs["use_rms_prop"] = config.optimizer == "rmsprop"
            kwargs["rms_prop_eps"] = 1e-5
        elif strict:
            raise ValueError("SB3 A2C uses RMSprop or Adam")
    else:
        raise ValueError(f"no SB3 translation for agent {agent!r}")
    kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


def check_sb3_layout(agent: Agent, what: str = "export") -> None:
    """ValueError, naming what stands in the way, for a learner whose network SB3's PPO/A2C
    MlpPolicy cannot hold (``what``: the command asking, for the message)."""
    if agent.name not in EXPORTABLE:
        raise ValueError(
            f"{what} works with PPO and A2C runs, SB3's own algorithms; {agent.name} has no SB3 counterpart"
        )
    c, policy = agent.config, agent.policy
    if c.shared:
        raise ValueError(f"SB3's MlpPolicy has no shared actor-critic body; {what} needs shared=false")
    if c.use_sde:
        raise ValueError(f"{what} does not carry gSDE exploration matrices; it needs use_sde=false")
    if not c.hidden or not isinstance(policy.pi_body, torch.nn.Sequential):
        raise ValueError(f"{what} needs MLP bodies with hidden layers (SB3's MlpPolicy); this run's are not")


def to_sb3(agent: Agent):
    """``(model, vecnormalize)``: an SB3 model (PPO or A2C, on CPU) holding ``agent``'s
    actor-critic weights, its step count and hyperparameters (see :func:`sb3_kwargs`, not strict;
    the optimizer state is not carried), and for a run with ``normalize_obs`` or
    ``normalize_reward`` SB3's VecNormalize holding the run's statistics (else None)."""
    import stable_baselines3
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    check_sb3_layout(agent)
    c = agent.config
    cls = getattr(stable_baselines3, agent.name.upper())
    env = DummyVecEnv([lambda: envs.make_env(agent.env_id, **agent.env_kwargs)] * c.n_envs)
    vecnormalize = None
    obs_rms = agent.policy.obs_rms  # gymlab's RunningMeanStd keeps what SB3's keeps, under the same names
    ret_rms = agent.reward_scaler.rms if agent.reward_scaler is not None else None
    if obs_rms is not None or ret_rms is not None:
        either = obs_rms if obs_rms is not None else ret_rms
        vecnormalize = env = VecNormalize(
            env, norm_obs=obs_rms is not None, norm_reward=ret_rms is not None, gamma=c.gamma,
            clip_obs=either.clip, clip_reward=either.clip, epsilon=either.epsilon,
        )  # fmt: skip
        for name, mine in (("obs_rms", obs_rms), ("ret_rms", ret_rms)):
            if mine is not None:  # SB3 builds only the statistics it normalises with
                theirs = getattr(vecnormalize, name)
                theirs.mean, theirs.var = mine.mean.cpu().numpy().copy(), mine.var.cpu().numpy().copy()
                theirs.count = float(mine.count)
    model = cls("MlpPolicy", env, seed=agent.seed, device="cpu", **sb3_kwargs(agent.name, c, strict=False))
    with torch.no_grad():
        for mine, theirs in sb3_parameter_pairs(agent.policy, model.policy):
            theirs.copy_(mine.detach().cpu())
    model.num_timesteps = agent.num_timesteps
    return model, vecnormalize


def export_run(run_dir: str | Path, out: str | Path, best: bool = False) -> tuple[Path, Path | None, Agent]:
    """``gymlab export``: write the run at ``run_dir`` (its newest checkpoint, or best.pt with
    ``best``) as an SB3 model file ``out`` (``.zip`` appended when missing), and its VecNormalize
    statistics, if it has any, to ``NAME.vecnormalize.pkl`` beside it (where ``gymlab eval`` finds
    them; a run without any removes an earlier export's). Both are written to temporary files
    first, then renamed. Returns (the model file, the statistics file or None, the run's agent)."""
    _, agent = runs.load_run(Path(run_dir), "cpu", best=best)
    model, vecnormalize = to_sb3(agent)
    out = Path(out)
    if out.suffix != ".zip":
        out = out.with_name(out.name + ".zip")
    stats = out.with_name(out.stem + ".vecnormalize.pkl")  # where gymlab eval looks for them
    try:
        for path in (out, stats):
            if path.is_dir():
                raise ValueError(f"{path} is a directory; give the .zip file to write")
        out.parent.mkdir(parents=True, exist_ok=True)
        written = [(_saved(out, model.save), out)]
        if vecnormalize is not None:
            written.append((_saved(stats, vecnormalize.save), stats))
        for tmp, path in written:  # both files complete before either replaces what was there
            os.replace(tmp, path)
        if vecnormalize is None:
            stats.unlink(missing_ok=True)  # an earlier export's statistics would be played with this model
    except OSError as e:
        raise ValueError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        for tmp in out.parent.glob(f".*.tmp{os.getpid()}.*"):
            tmp.unlink(missing_ok=True)
    return out, stats if vecnormalize is not None else None, agent


def _saved(path: Path, save) -> Path:
    """``save`` into a temporary file beside ``path``; returns the temporary file."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    save(tmp)
    return tmp


def from_sb3(agent: Agent, path: str | Path) -> None:
    """Start ``agent`` (PPO or A2C, separate MLP bodies) from the SB3 PPO or A2C model at ``path``:
    its actor-critic weights, and the VecNormalize statistics saved beside it
    (:func:`vecnormalize_path`), which the agent must be set to use
    (``normalize_obs``, ``normalize_reward``) exactly when they are there. ValueError, in one line,
    for anything that does not fit."""
    check_sb3_layout(agent, "--init-from")
    model = load_sb3_model(path, agent.env_id, "cpu", agent.env_kwargs)
    if type(model).__name__ not in ("PPO", "A2C") or not hasattr(model.policy, "mlp_extractor"):
        raise ValueError(f"{path} is a {type(model).__name__} model; --init-from takes SB3 PPO or A2C MlpPolicy models")
    if model.use_sde:
        raise ValueError(f"{path} explores with gSDE, which gymlab's checkpoints do not carry; pick a model without")
    activation = {cls: name for name, cls in SB3_ACTIVATIONS.items()}.get(model.policy.activation_fn)
    if activation is None:
        raise ValueError(
            f"{path} uses {model.policy.activation_fn.__name__}, which gymlab's networks do not offer "
            f"({', '.join(SB3_ACTIVATIONS)})"
        )
    if activation != agent.config.activation:
        raise ValueError(
            f"{path} uses {model.policy.activation_fn.__name__}, this run {agent.config.activation}; "
            f"train with --set activation={activation}"
        )
    extractor = model.policy.mlp_extractor
    actor, critic = (
        [m.out_features for m in net if isinstance(m, torch.nn.Linear)]
        for net in (extractor.policy_net, extractor.value_net)
    )
    if actor != critic or not actor:
        raise ValueError(
            f"{path} has hidden layers {actor} (actor) and {critic} (critic); gymlab's actor and critic have the "
            "same hidden layers, at least one"
        )
    if actor != list(agent.config.hidden):
        raise ValueError(
            f"{path} has hidden layers {actor}, this run {list(agent.config.hidden)}; "
            f"train with --set hidden={','.join(map(str, actor))}"
        )
    pairs = sb3_parameter_pairs(agent.policy, model.policy)
    stats_path = vecnormalize_path(path)
    stats = load_vecnormalize(stats_path, model.observation_space) if stats_path is not None else None
    reward_rms = agent.reward_scaler.rms if agent.reward_scaler is not None else None
    for mine, theirs, flag in (
        (agent.policy.obs_rms, stats.obs_rms if stats is not None and stats.norm_obs else None, "normalize_obs"),
        (reward_rms, stats.ret_rms if stats is not None and stats.norm_reward else None, "normalize_reward"),
    ):
        if (mine is None) != (theirs is None):
            has = "comes with" if theirs is not None else "has no"
            raise ValueError(
                f"{path} {has} VecNormalize statistics of its {flag.removeprefix('normalize_')} (NAME.vecnormalize.pkl "
                f"or NAME/vecnormalize.pkl); train with --set {flag}={str(theirs is not None).lower()}"
            )
        if mine is None:
            continue
        clip = stats.clip_obs if flag == "normalize_obs" else stats.clip_reward
        if (clip, stats.epsilon) != (mine.clip, mine.epsilon):
            raise ValueError(
                f"the statistics at {stats_path} clip at {clip:g} with epsilon {stats.epsilon:g}; gymlab's "
                f"{flag} clips at {mine.clip:g} with epsilon {mine.epsilon:g}"
            )
        if flag == "normalize_reward" and stats.gamma != agent.config.gamma:
            raise ValueError(
                f"the reward statistics at {stats_path} are of returns discounted with gamma {stats.gamma:g}; "
                f"train with --set gamma={stats.gamma:g}"
            )
        mine.mean.copy_(torch.as_tensor(theirs.mean, dtype=torch.float64))
        mine.var.copy_(torch.as_tensor(theirs.var, dtype=torch.float64))
        mine.count.fill_(float(theirs.count))
    with torch.no_grad():
        for mine, theirs in pairs:
            mine.copy_(theirs.detach().to(mine.device))
