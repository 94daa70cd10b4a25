"""A trained learner under attack: its episodes played through :class:`envs.adversarial.AdversarialObservation`.

The same evaluation serves a digits classifier (one episode per test example, reward 1 for the
right label: the mean reward is the accuracy under attack) and a policy (its return under attack).
The gradients come from the learner's own network (white box) or from a proxy learner's
(black-box transfer: the learner is only played, never differentiated).
"""

from __future__ import annotations

import gymnasium as gym
from torch import nn

from agents.base import Agent
from agents.evaluation import make_eval_env, play_episodes
from envs.adversarial import AdversarialObservation


def attackable_model(agent: Agent) -> nn.Module:
    """The learner's network from observations to logits, or ValueError when it has none to attack
    (continuous actions, regression, a GAN, a Stable-Baselines3 model)."""
    if not isinstance(agent, Agent):
        raise ValueError("attacks need a gymlab run directory (they differentiate its network); got an SB3 model")
    if not agent.plays_one_split:
        raise ValueError(
            f"attacks play one task's test split; a {agent.name} run is judged on several (its eval figures), so "
            "attack a supervised or RL run"
        )
    if not isinstance(agent.action_space, gym.spaces.Discrete):
        raise ValueError(
            f"attacks raise the loss of the greedy action, so they need a classifier or a discrete-action policy; "
            f"{agent.env_id} acts in {agent.action_space}"
        )
    model = getattr(agent, "model", None)
    if model is None or not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"attacks and attributions differentiate a network; a {agent.name} run has none to differentiate"
        )
    return model


def evaluate_under_attack(
    agent: Agent,
    attack: str,
    eps: float,
    proxy: Agent | None = None,
    episodes: int = 10,
    seed: int = 0,
    on_episode=None,
    target: int | str | None = None,
) -> dict[str, float]:
    """``agent`` played on its test env with every observation perturbed by ``attack`` (fgsm |
    ifgsm | pgd | noise) within ``eps``, the gradients from ``proxy`` when given. A single-step
    env plays one full pass over its test split (``episodes`` is then ignored). Returns
    :func:`agents.evaluation.play_episodes`' figures (``accuracy`` on a classification task).
    With ``target`` (a class or action, ``next`` or ``random``) the attack is targeted and
    ``target_rate`` (the fraction of steps the agent took the target: of test examples given the
    target label) is added."""
    victim = attackable_model(agent if proxy is None else proxy)
    if proxy is not None:
        attackable_model(agent)  # the victim must have a greedy action too
        if proxy.observation_space != agent.observation_space:
            raise ValueError(
                f"the proxy observes {proxy.observation_space} and the run {agent.observation_space}; "
                "a transfer attack needs a proxy trained on the same observations"
            )
    env, full_pass = make_eval_env(agent.env_id, agent.env_kwargs)
    env = AdversarialObservation(env, victim, attack, eps, seed=seed, target=target)
    try:
        policy = agent.policy_fn(deterministic=True)
        with agent.own_process_state():
            figures = play_episodes(
                env, policy, full_pass or episodes, seed, on_episode, seed_first_only=bool(full_pass)
            )
        if target is not None:
            figures["target_rate"] = env.target_rate
        return figures
    finally:
        env.close()
