"""Learners and the modules they share (networks, optimizers, rollout storage, run directories).

``from agents import PPO`` (or A2C, Reinforce, Supervised, BC, GAIL, GAN) imports the learner on
first use, so importing this package stays fast."""

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
    "trees": "agents.trees:Trees",
    "distill": "agents.distillation:Distill",
    "compressed": "agents.compression:Compressed",
    "seq2seq-reinforce": "agents.sequence_rl:SequenceReinforce",
    "pseudo-label": "agents.pseudo_label:PseudoLabel",
    "lifelong": "agents.lifelong:Lifelong",
    "maml": "agents.maml:MAML",
    "dann": "agents.dann:DANN",
    "cyclegan": "agents.cyclegan:CycleGAN",
}


def agent_class(name: str):
    """The learner class registered under ``name``; ValueError with close matches otherwise."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, AGENTS, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"unknown agent {name!r}{hint} (agents: {', '.join(AGENTS)})")
    module, cls = AGENTS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def __getattr__(name: str):
    """``agents.PPO`` and the other learners by their class names, imported on first use."""
    for path in AGENTS.values():
        module, cls = path.split(":")
        if cls == name:
            return getattr(importlib.import_module(module), cls)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


__all__ = ["AGENTS", "agent_class", *(path.split(":")[1] for path in AGENTS.values())]
