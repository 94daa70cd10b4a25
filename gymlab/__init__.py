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
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package stays light: `gymlab --help` must not import torch
    from agents.base import Agent

__version__ = "0.1.0"


def load(run_dir: str | Path, best: bool = False, device: str | None = None) -> Agent:
    """The learner saved in ``run_dir`` (by ``agent.save`` or ``gymlab train``), with the weights
    of its newest checkpoint (``best``: of its best periodic evaluation); ``device`` defaults to
    the run's own."""
    from agents import runs

    return runs.load_run(Path(run_dir), device, best=best)[1]


__all__ = ["load"]
