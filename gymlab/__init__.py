"""gymlab: the ML2021 course as agents acting in Gymnasium environments.

The Python API, as the command line uses it::

    from agents import PPO
    agent = PPO("CartPole-v1", seed=0)      # gymlab's preset for PPO on CartPole-v1
    agent.learn(100_000)
    agent.save("runs/my-ppo")               # a run directory: gymlab eval/record/board/--resume take it

    import gymlab
    agent = gymlab.load("runs/my-ppo")
    action = agent.predict(obs[None], deterministic=True)[0]
    agent.model                             # the torch module: observations -> logits / means / predictions

    X, y = gymlab.dataset("gymlab/Digits-v0", "test")  # the tensors that env's test split serves
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package stays light: `gymlab --help` must not import torch
    import torch

    from agents.base import Agent

__version__ = "0.1.0"


def load(run_dir: str | Path, best: bool = False, device: str | None = None) -> Agent:
    """The learner saved in ``run_dir`` (by ``agent.save`` or ``gymlab train``), with the weights
    of its newest checkpoint (``best``: of its best periodic evaluation); ``device`` defaults to
    the run's own."""
    from agents import runs

    return runs.load_run(Path(run_dir), device, best=best)[1]


def dataset(env_id: str, split: str = "train", **env_kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)``: every input and target that ``split`` of a single-step env serves, as torch
    tensors, row for row (``X[i]`` is the observation of ``info["index"] == i``). ``env_kwargs``
    are the env's (e.g. ``family="permuted", task_id=2``). ValueError for an env that is not a
    fixed supervised task (a gymnasium env, a task schedule or a task distribution)."""
    import torch

    import envs
    from envs.single_step import SingleStepEnv, fixed_dataset

    env = envs.make_env(env_id, **env_kwargs)
    single = env.unwrapped
    env.close()
    if not isinstance(single, SingleStepEnv):
        raise ValueError(f"{env_id} is not a dataset env; `gymlab list` shows the gymlab/ tasks")
    kwargs = {k: v for k, v in env_kwargs.items() if k not in ("mode", "render_mode")}
    data = fixed_dataset(single.task, split, **kwargs)
    return torch.from_numpy(data.x.copy()), torch.from_numpy(data.y.copy())


__all__ = ["dataset", "load"]
