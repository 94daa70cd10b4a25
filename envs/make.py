"""Building the environments agents act in: id checks, vector envs, episode stats, video."""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import json
import os
import shlex
from pathlib import Path

# MuJoCo picks its OpenGL backend when it is first imported: render headless (EGL) unless the
# user chose one (glfw for a window, osmesa for software rendering).
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
from gymnasium.vector import AutoresetMode

from envs import envpool, pixels  # noqa: E402
from envs.native import NATIVE, NATIVE_MIN_ENVS, SerialVectorEnv  # noqa: E402

VECTORIZATIONS = ("auto", "sync", "async", "envpool")

# entry-point package -> (module it needs, the pip command that installs it)
OPTIONAL_DEPENDENCIES = {
    "gymnasium.envs.mujoco": ("mujoco", 'pip install "gymnasium[mujoco]"'),
    "gymnasium.envs.box2d": ("Box2D", 'pip install "gymnasium[box2d]"'),
    "ale_py": ("ale_py", 'pip install "gymnasium[atari]"'),
    "envs.minatar": ("minatar", "pip install minatar"),
}


def missing_dependency(env_id: str) -> str | None:
    """What it takes to run ``env_id`` here (the pip command, or the id to use instead) when this
    Python cannot; None when it can."""
    entry_point = gym.spec(env_id).entry_point
    if getattr(entry_point, "__name__", "") == "_raise_mujoco_py_error":  # gymnasium's v2/v3 MuJoCo ids
        return "the mujoco-py envs (v2, v3) moved to gymnasium-robotics; use the v5 ids (e.g. Hopper-v5)"
    if not isinstance(entry_point, str):
        return None
    for package, (module, pip) in OPTIONAL_DEPENDENCIES.items():
        if entry_point.startswith(package) and importlib.util.find_spec(module) is None:
            return pip
    return None


def register_atari() -> bool:
    """Register the Atari games (``ALE/<Game>-v5``; ale-py registers them when imported); False
    when ale-py is not installed."""
    if importlib.util.find_spec("ale_py") is None:
        return False
    import ale_py  # noqa: F401

    return True


def env_ids() -> list[str]:
    """Every environment id registered with gymnasium (gymlab's and the Atari games included)."""
    register_atari()
    return sorted(gym.envs.registry.keys())


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError`` naming close matches when ``env_id`` is not registered."""
    if env_id in gym.envs.registry:
        return
    if env_id.startswith("ALE/") and not register_atari():
        raise ValueError(f"{env_id} cannot run here: pip install ale-py")
    if env_id in gym.envs.registry:
        return
    close = difflib.get_close_matches(env_id, env_ids(), n=3, cutoff=0.6)  # (registers the Atari games)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; `gymlab list` shows the registered ids"
    raise ValueError(f"unknown environment id {env_id!r}{hint}")


def make_env(env_id: str, render_mode: str | None = None, training: bool = False, **kwargs) -> gym.Env:
    """One environment by id (checked first), rendering headless when asked. Keyword arguments
    go to the env's constructor (or to ``gym.make``, e.g. ``max_episode_steps``); ones it refuses
    raise a one-line ``ValueError``. Games played from pixels come through their standard
    preprocessing (:mod:`envs.pixels`; with ``training``, the training-only parts too)."""
    check_env_id(env_id)
    pip = missing_dependency(env_id)
    if pip is not None:
        raise ValueError(f"{env_id} cannot run here: {pip}")
    check_env_kwargs(env_id, kwargs)
    preprocess = pixels.pipeline(env_id)
    try:
        env = gym.make(
            env_id, render_mode=render_mode, disable_env_checker=True, **{**pixels.make_kwargs(env_id), **kwargs}
        )
        return env if preprocess is None else preprocess(env, training)
    except gym.error.DependencyNotInstalled as e:  # a dependency present but unusable (e.g. a broken build)
        raise ValueError(f"{env_id} cannot start: {str(e).splitlines()[0]}") from e
    except Exception as e:  # what a constructor raises for arguments it cannot take varies by env
        if not kwargs:
            raise
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        message = message.split(" was raised from the environment creator")[0]  # gymnasium's addendum
        raise ValueError(f"{env_id} cannot be made with {env_kwargs_text(kwargs)}: {message}") from e


def constructor_defaults(env_id: str) -> dict:
    """The default of every keyword of ``env_id``'s constructor, with the registration's own
    kwargs on top (e.g. ``continuous=True`` for LunarLanderContinuous-v3); ``{}`` when unknown."""
    spec = gym.spec(env_id)
    try:
        creator = (
            gym.envs.registration.load_env_creator(spec.entry_point)
            if isinstance(spec.entry_point, str)
            else spec.entry_point
        )
        signature = inspect.signature(creator)
    except (ImportError, AttributeError, TypeError, ValueError, gym.error.Error):
        return dict(spec.kwargs)
    defaults = {k: p.default for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **spec.kwargs}


def _kind(value) -> str | None:
    """What ``--env-kwargs`` should give for a default: the words of a one-line message."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return None


def check_env_kwargs(env_id: str, env_kwargs: dict) -> None:
    """ValueError, naming the expected type, for a text value where ``env_id``'s constructor
    default is a bool or a number (``enable_wind=yes`` would otherwise train with the string)."""
    if not env_kwargs:
        return
    defaults = constructor_defaults(env_id)
    for key, value in env_kwargs.items():
        expected = _kind(defaults.get(key))
        if expected is not None and isinstance(value, str):
            raise ValueError(
                f"{env_id} takes {key} as {expected} (default {json.dumps(defaults[key])}), not the text {value!r}"
            )


def check_rendering(env: gym.Env) -> None:
    """Render one frame of ``env`` (made with render_mode="rgb_array", reset here), or raise a
    one-line ValueError with the fix when rendering cannot start (MuJoCo without EGL or OSMesa)."""
    try:
        env.reset()
        env.render()
    except Exception as e:  # OpenGL back ends fail with many exception types
        backend = os.environ.get("MUJOCO_GL", "")
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"cannot render {env.spec.id if env.spec else 'the env'} (MUJOCO_GL={backend}: {reason}); install EGL "
            "(apt-get install libegl1) or OSMesa (apt-get install libosmesa6, then MUJOCO_GL=osmesa), or run on a "
            "desktop with MUJOCO_GL=glfw"
        ) from e


def env_kwargs_text(env_kwargs: dict) -> str:
    """``env_kwargs`` for a message: ``a=1, b=True`` (``no env kwargs`` when empty)."""
    return ", ".join(f"{key}={value!r}" for key, value in env_kwargs.items()) or "no env kwargs"


def space_text(space: gym.Space) -> str:
    """A space in a few words for a one-line message: ``Discrete(4)``, ``Box(2,)`` (no bounds)."""
    if isinstance(space, gym.spaces.Box):
        return f"Box{space.shape}"
    return str(space).splitlines()[0]


def env_kwargs_words(env_kwargs: dict) -> str:
    """``env_kwargs`` as the words of ``--env-kwargs`` that make them again (``key=value``, the
    value as JSON), each quoted for a shell."""
    return " ".join(shlex.quote(f"{key}={json.dumps(value)}") for key, value in env_kwargs.items())


def video_trigger(every: int):
    """Episode trigger for RecordVideo: episodes 0, 1, 8, 27, ... (cubic) until ``every``, then
    every ``every``-th episode, so short runs still get videos and long runs don't drown in them."""

    def trigger(episode: int) -> bool:
        if episode < every:
            return round(episode ** (1 / 3)) ** 3 == episode
        return episode % every == 0

    return trigger


def _thunk(env_id: str, index: int, env_kwargs: dict, video_dir: Path | None, video_every: int):
    def make() -> gym.Env:
        record = video_dir is not None and index == 0
        env = make_env(env_id, render_mode="rgb_array" if record else None, training=True, **env_kwargs)
        if record:
            env = gym.wrappers.RecordVideo(
                env, str(video_dir), episode_trigger=video_trigger(video_every),
                name_prefix="train", disable_logger=True,
            )  # fmt: skip
        return env

    return make


def make_vec_env(
    env_id: str,
    n_envs: int,
    vectorization: str = "auto",
    env_kwargs: dict | None = None,
    video_dir: Path | None = None,
    video_every: int = 100,
) -> gym.vector.VectorEnv:
    """``n_envs`` copies of ``env_id`` in a gymnasium vector env with episode statistics.

    Autoreset is SAME_STEP: a step that ends an episode returns the reset observation and puts
    the true final observation in ``info["final_obs"]`` (needed to bootstrap truncations).
    ``vectorization``: "sync" (gymnasium's SyncVectorEnv, one process), "async" (one subprocess per
    env), "auto" (:mod:`envs.native`, the same episodes with less bookkeeping): the env's array
    implementation when it has one, there are at least ``NATIVE_MIN_ENVS`` copies and nothing asks
    for more (no env kwargs, no video), else one lean loop over the env copies; or "envpool"
    (:mod:`envs.envpool`, C++ threads; only for the envs checked to step as gymnasium's, else a
    one-line ValueError).
    With ``video_dir``, env 0 records mp4s of some training episodes there.
    """
    check_env_id(env_id)
    if vectorization == "envpool":
        envpool.check_supported(env_id, env_kwargs, video=video_dir is not None)
        return envpool.make_envpool_vec_env(make_env(env_id, training=True), n_envs)
    if video_dir is not None:  # fail before training, in one line, when frames cannot be made
        probe = make_env(env_id, render_mode="rgb_array", **(env_kwargs or {}))
        try:
            check_rendering(probe)
        finally:
            probe.close()
    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"vectorization must be one of {', '.join(VECTORIZATIONS)}; got {vectorization!r}")
    if vectorization == "auto" and env_id in NATIVE and n_envs >= NATIVE_MIN_ENVS and not env_kwargs and not video_dir:
        return NATIVE[env_id](n_envs)
    thunks = [_thunk(env_id, i, env_kwargs or {}, video_dir, video_every) for i in range(n_envs)]
    games = pixels.pipeline(env_id) is pixels.atari  # log whole games' scores, not the learner's lives
    if vectorization == "auto":
        envs = SerialVectorEnv(thunks)
        return pixels.GameEpisodes(envs) if games else envs
    cls = gym.vector.AsyncVectorEnv if vectorization == "async" else gym.vector.SyncVectorEnv
    envs = cls(thunks, autoreset_mode=AutoresetMode.SAME_STEP)
    return pixels.GameEpisodes(envs) if games else gym.wrappers.vector.RecordEpisodeStatistics(envs)
