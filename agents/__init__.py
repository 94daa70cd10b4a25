"""Learners and the modules they share (networks, optimizers, rollout storage)."""

from __future__ import annotations

import difflib
import importlib

# name -> "module:Class"; imported on first use so `gymlab --help` stays fast.
AGENTS: dict[str, str] = {
    "ppo": "agents.ppo:PPO",
    "a2c": "agents.a2c:A2C",
    "reinforce": "agents.reinforce:Reinforce",
    "supervised": "agents.supervised:Supervised",
    "bc": "agents.imitation:BC",
    "gail": "agents.imitation:GAIL",
    "gan": "agents.gan:GAN",
}


def agent_class(name: str):
    """The learner class registered under ``name``; ValueError with close matches otherwise."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, AGENTS, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"unknown agent {name!r}{hint} (agents: {', '.join(AGENTS)})")
    module, cls = AGENTS[name].split(":")
    return getattr(importlib.import_module(module), cls)
