"""Expert demonstrations: record them from any policy, save them, load and validate them.

File format: one ``.npz`` (``numpy.savez_compressed``), read with ``allow_pickle=False`` so a
file from a stranger can never run code. T = total steps over all episodes.

| key               | shape / dtype            | meaning                                              |
|-------------------|--------------------------|------------------------------------------------------|
| ``format``        | () int64                 | format version, currently 1                          |
| ``env_id``        | () str                   | gymnasium id the expert played, e.g. ``CartPole-v1`` |
| ``observations``  | (T, *obs_shape)          | observation each action was taken in                 |
| ``actions``       | (T, *action_shape)       | the expert's action (env-ready: clipped to a Box)    |
| ``rewards``       | (T,) float32             | the env's reward for that step                       |
| ``episode_starts``| (T,) bool                | True on the first step of every episode              |
| ``expert_return`` | () float64               | the expert's mean return over the recorded episodes  |
| ``env_kwargs``    | () str, optional         | JSON of the env's constructor arguments (none: ``{}``) |

Every episode is recorded to its end (termination or time limit), so the return of episode
``e`` is the sum of ``rewards`` between its start and the next. :func:`load_demos` checks all
of this and raises a one-line ``ValueError`` that says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
"""Value of the ``format`` key written by :func:`save_demos`."""

KEYS: tuple[str, ...] = ("format", "env_id", "observations", "actions", "rewards", "episode_starts", "expert_return")
"""Every key a demonstrations file must hold."""

RECORD_HINT = "record demos with `gymlab demos RUN_DIR --episodes 10 --out FILE.npz`"


@dataclass(frozen=True)
class Demos:
    """Expert transitions of whole episodes, concatenated (T = total steps)."""

    env_id: str
    """gymnasium id the demonstrations were recorded in"""
    observations: np.ndarray
    """(T, *obs_shape) observation each action was taken in"""
    actions: np.ndarray
    """(T, *action_shape) the expert's actions"""
    rewards: np.ndarray
    """(T,) float32 env rewards"""
    episode_starts: np.ndarray
    """(T,) bool, True on the first step of each episode"""
    expert_return: float
    """mean return of the recorded episodes"""
    env_kwargs: dict = field(default_factory=dict)
    """keyword arguments the env was made with (``gymlab demos --env-kwargs``, or the run's own)"""

    def __len__(self) -> int:
        """Number of transitions T."""
        return len(self.actions)

    @property
    def n_episodes(self) -> int:
        """Number of recorded episodes."""
        return int(self.episode_starts.sum())

    def episode_returns(self) -> np.ndarray:
        """(E,) return of each episode."""
        episode = np.cumsum(self.episode_starts) - 1  # (T,) episode index of each step
        return np.bincount(episode, weights=self.rewards.astype(np.float64), minlength=self.n_episodes)

    def episode_lengths(self) -> np.ndarray:
        """(E,) number of steps of each episode."""
        return np.diff(np.append(np.flatnonzero(self.episode_starts), len(self)))

    def first_episodes(self, n: int) -> Demos:
        """The first ``n`` episodes (all of them when ``n`` <= 0 or beyond the count)."""
        if n <= 0 or n >= self.n_episodes:
            return self
        stop = int(np.flatnonzero(self.episode_starts)[n])
        rewards = self.rewards[:stop]
        starts = self.episode_starts[:stop]
        mean = float(np.bincount(np.cumsum(starts) - 1, weights=rewards.astype(np.float64)).mean())
        return replace(
            self, observations=self.observations[:stop], actions=self.actions[:stop], rewards=rewards,
            episode_starts=starts, expert_return=mean,
        )  # fmt: skip


def record_demos(
    env,
    policy: Callable[[np.ndarray], np.ndarray],
    episodes: int,
    env_id: str,
    seed: int = 0,
    env_kwargs: dict | None = None,
) -> Demos:
    """Play ``episodes`` whole episodes of ``policy`` (one observation in, one env-ready action
    out) in the gymnasium ``env`` (``env_id`` made with ``env_kwargs``); episode ``i`` is reset
    with ``seed + i``."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    observations, actions, rewards, starts = [], [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, first = False, True
        while not done:
            action = policy(np.asarray(obs))  # as the policy gives it: a Discrete env may need a scalar
            observations.append(np.asarray(obs))
            actions.append(np.asarray(action))
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            starts.append(first)
            done, first = bool(terminated or truncated), False
    rewards_array = np.asarray(rewards, dtype=np.float32)
    starts_array = np.asarray(starts, dtype=bool)
    returns = np.bincount(np.cumsum(starts_array) - 1, weights=rewards_array.astype(np.float64))
    return Demos(
        env_id, np.stack(observations), np.stack(actions), rewards_array, starts_array, float(returns.mean()),
        dict(env_kwargs or {}),
    )  # fmt: skip


def save_demos(demos: Demos, path: str | Path) -> Path:
    """Write ``demos`` to ``path`` in the format above (``.npz`` is appended when missing)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        format=np.int64(FORMAT_VERSION),
        env_id=np.str_(demos.env_id),
        observations=demos.observations,
        actions=demos.actions,
        rewards=demos.rewards.astype(np.float32),
        episode_starts=demos.episode_starts.astype(bool),
        expert_return=np.float64(demos.expert_return),
        env_kwargs=np.str_(json.dumps(demos.env_kwargs)),
    )
    return path


def load_demos(path: str | Path, env_id: str | None = None, env_kwargs: dict | None = None) -> Demos:
    """Read and validate a demonstrations file; with ``env_id``, also check that the demos were
    recorded there, with the same ``env_kwargs``, and fit its spaces. Any problem is a one-line
    ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"demos file {path} does not exist; {RECORD_HINT}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise ValueError(f"demos file {path} lacks {', '.join(missing)}; {RECORD_HINT}")
            arrays = {k: data[k] for k in (*KEYS, "env_kwargs") if k in data.files}  # reading checks the CRC
    except ValueError as e:
        if "lacks" in str(e):
            raise
        raise ValueError(f"demos file {path} is damaged ({str(e).splitlines()[0]}); {RECORD_HINT}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"demos file {path} is damaged or truncated ({type(e).__name__}); {RECORD_HINT}") from None
    if int(arrays["format"]) != FORMAT_VERSION:
        raise ValueError(f"demos file {path} has format {int(arrays['format'])}; this gymlab reads {FORMAT_VERSION}")
    recorded_on = str(arrays["env_id"])
    if env_id is not None and recorded_on != env_id:
        raise ValueError(f"demos file {path} was recorded on {recorded_on}, not {env_id}; record demos on {env_id}")
    recorded_with = _read_env_kwargs(arrays.get("env_kwargs"), path)
    if env_id is not None and recorded_with != (env_kwargs or {}):
        from envs.make import env_kwargs_text, env_kwargs_words

        fix = (
            f"train with --env-kwargs {env_kwargs_words(recorded_with)}"
            if recorded_with
            else "train without --env-kwargs"
        )
        raise ValueError(
            f"demos file {path} was recorded on {env_id} made with {env_kwargs_text(recorded_with)}, "
            f"not {env_kwargs_text(env_kwargs or {})}; {fix}"
        )
    observations, actions = arrays["observations"], arrays["actions"]
    rewards, starts = arrays["rewards"], arrays["episode_starts"]
    lengths = {
        k: len(arrays[k]) if arrays[k].ndim else 0 for k in ("observations", "actions", "rewards", "episode_starts")
    }
    if len(set(lengths.values())) != 1 or rewards.ndim != 1 or starts.ndim != 1:
        shown = ", ".join(f"{k} {v}" for k, v in lengths.items())
        raise ValueError(f"demos file {path} has mismatched lengths ({shown}); {RECORD_HINT}")
    if len(actions) == 0:
        raise ValueError(f"demos file {path} holds no transitions; {RECORD_HINT}")
    if starts.dtype != bool or not starts[0]:
        raise ValueError(f"demos file {path}: episode_starts must be bool and True at step 0; {RECORD_HINT}")
    if not (np.isfinite(rewards).all() and np.isfinite(observations.astype(np.float64)).all()):
        raise ValueError(f"demos file {path} holds NaN or inf values; {RECORD_HINT}")
    demos = Demos(
        recorded_on, observations, actions, rewards.astype(np.float32), starts, float(arrays["expert_return"]),
        recorded_with,
    )  # fmt: skip
    if env_id is not None:
        check_spaces(demos, env_id, path)
    return demos


def _read_env_kwargs(text: np.ndarray | None, path: Path) -> dict:
    """The ``env_kwargs`` entry of a demos file as a dict (``{}`` when the file has none)."""
    if text is None:
        return {}
    try:
        kwargs = json.loads(str(text))
    except json.JSONDecodeError:
        kwargs = None
    if not isinstance(kwargs, dict):
        raise ValueError(f"demos file {path} has damaged env_kwargs (not a JSON object); {RECORD_HINT}")
    return kwargs


def check_spaces(demos: Demos, env_id: str, path: Path | str = "demos") -> None:
    """Raise ValueError when the demos' observations or actions do not fit the spaces of
    ``env_id`` made with the demos' env kwargs."""
    import gymnasium as gym

    from envs.make import make_env

    env = make_env(env_id, **demos.env_kwargs)
    obs_space, action_space = env.observation_space, env.action_space
    env.close()
    if demos.observations.shape[1:] != obs_space.shape:
        raise ValueError(
            f"demos file {path} observes shape {demos.observations.shape[1:]} but {env_id} observes {obs_space.shape}"
        )
    if demos.actions.shape[1:] != action_space.shape:
        raise ValueError(
            f"demos file {path} acts with shape {demos.actions.shape[1:]} but {env_id} acts with {action_space.shape}"
        )
    if isinstance(action_space, gym.spaces.Discrete):
        if demos.actions.dtype.kind not in "iu" or demos.actions.min() < 0 or demos.actions.max() >= action_space.n:
            raise ValueError(f"demos file {path} holds actions outside {env_id}'s 0..{action_space.n - 1}")
