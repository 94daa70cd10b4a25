"""Meta-learning (HW15): learn an initialisation that adapts to a new task in a few gradient
steps, on a task distribution (``family=sine`` on gymlab/Sine-v0, ``family=few-shot`` on
gymlab/Digits-v0).

Every drawn task has a support set (adapt on it) and a query set (score the adapted weights on
it). Written with ``torch.func``: the network is called functionally (``functional_call``) with
a dict of weights, the inner steps take ``grad`` of the support loss, and the tasks of a
meta-batch run as one ``vmap``.

- ``algo=maml`` (Finn et al. 2017): minimise the query loss *after* the inner steps,
  differentiating through them (second order: the inner gradient's own gradient);
- ``algo=fomaml``: the same with the inner gradients treated as constants (first order);
- ``algo=reptile`` (Nichol et al. 2018): adapt on the task's examples, then move the
  initialisation towards the adapted weights (meta-gradient = theta - mean adapted theta);
- ``algo=pretrain``: the baseline, one network trained on every task's examples at once.

One step counts one example drawn (support + query), so ``total_steps`` is examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

import envs
from agents.base import Agent
from agents.config import TrainConfig, one_of, positive
from agents.networks import CategoricalHead
from agents.optim import clip_grad_norm, make_optimizer, set_lr
from agents.supervised import build_predictor
from envs.single_step import SingleStepEnv
from supervised.families import TaskDistribution, build_family
from supervised.kinds import Kind

ALGOS: tuple[str, ...] = ("maml", "fomaml", "reptile", "pretrain")
"""Values of ``algo``."""

Params = dict[str, torch.Tensor]


@dataclass
class MAMLConfig(TrainConfig):
    """Meta-learner hyperparameters; defaults are MAML's sine regression (Finn et al. 2017)."""

    total_steps: int = 500_000
    """examples drawn in all (support + query of every task)"""
    n_envs: int = 1
    """must stay 1: tasks are drawn meta_batch at a time"""
    learning_rate: float = 1e-3
    """outer (meta) learning rate"""
    max_grad_norm: float = 0.0
    """clip the meta-gradient's norm to this (0 disables)"""
    hidden: list[int] = field(default_factory=lambda: [40, 40])
    """hidden layer sizes of the MLP (the last one is the CNN's feature size)"""
    activation: str = "relu"
    """tanh | relu | gelu | elu | leaky_relu"""
    ortho_init: bool = False
    """orthogonal initialisation (PyTorch's default init otherwise)"""
    net: str = "mlp"
    """mlp | cnn (image tasks)"""
    algo: str = "maml"
    """maml | fomaml | reptile | pretrain"""
    inner_steps: int = 1
    """SGD steps on a task's support set (reptile: on support + query)"""
    inner_lr: float = 0.01
    """learning rate of the inner steps (and of adaptation at test time)"""
    meta_batch: int = 25
    """tasks per meta-update (one vmap)"""
    eval_tasks: int = 100
    """test tasks the adaptation curve averages over"""
    eval_steps: int = 10
    """inner steps the adaptation curve follows at test time"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "inner_lr", "meta_batch", "eval_tasks")
        one_of(self, "algo", ALGOS)
        one_of(self, "net", ("mlp", "cnn"))
        if self.n_envs != 1:
            raise ValueError(f"maml draws tasks meta_batch at a time, so n_envs must be 1 (got {self.n_envs})")
        if self.inner_steps < 1 or self.eval_steps < 1:
            raise ValueError(f"inner_steps and eval_steps must be >= 1 (got {self.inner_steps} and {self.eval_steps})")
        if self.eval_steps < self.inner_steps:
            raise ValueError(
                f"eval_steps ({self.eval_steps}) must be >= inner_steps ({self.inner_steps}): evaluation reports the "
                "query loss after inner_steps"
            )


# ----------------------------------------------------------------------------- the math
def task_loss(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, kind: Kind) -> torch.Tensor:
    """Mean loss of the network with weights ``params`` on one task's examples x (K, ...), y (K, ...)."""
    return kind.loss(functional_call(model, params, (x,)), y).mean()


def adapt(
    model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, kind: Kind, steps: int, lr: float,
    first_order: bool = False,
) -> Params:  # fmt: skip
    """``steps`` SGD steps from ``params`` on (x, y): theta' = theta - lr * grad L(theta). The
    result stays differentiable in ``params`` through the inner gradients (second order) unless
    ``first_order``, which treats each inner gradient as a constant."""
    for _ in range(steps):
        grads = grad(task_loss, argnums=1)(model, params, x, y, kind)
        if first_order:
            grads = {name: g.detach() for name, g in grads.items()}
        params = {name: p - lr * grads[name] for name, p in params.items()}
    return params


def maml_loss(
    model: nn.Module, params: Params, support_x, support_y, query_x, query_y, kind: Kind, steps: int, lr: float,
    first_order: bool = False,
) -> torch.Tensor:  # fmt: skip
    """MAML's meta-objective over a meta-batch: the mean over tasks of the query loss after
    adapting on the support set. Inputs are stacked over tasks, (T, K, ...) and (T, Q, ...);
    the tasks run as one ``vmap``."""

    def one_task(sx, sy, qx, qy):
        adapted = adapt(model, params, sx, sy, kind, steps, lr, first_order)
        return task_loss(model, adapted, qx, qy, kind)

    return vmap(one_task)(support_x, support_y, query_x, query_y).mean()


def reptile_direction(model: nn.Module, params: Params, x, y, kind: Kind, steps: int, lr: float) -> Params:
    """Reptile's meta-gradient: theta - mean over tasks of the weights after ``steps`` SGD
    steps on each task's (x, y) (T, K, ...), the tasks as one ``vmap``."""
    detached = {name: p.detach() for name, p in params.items()}
    adapted = vmap(lambda tx, ty: adapt(model, detached, tx, ty, kind, steps, lr, first_order=True))(x, y)
    return {name: detached[name] - adapted[name].mean(dim=0) for name in detached}


def adaptation_curve(
    model: nn.Module, params: Params, support_x, support_y, query_x, query_y, kind: Kind, steps: int, lr: float,
    per_task: bool = False,
) -> torch.Tensor:  # fmt: skip
    """Query loss after 0, 1, ..., ``steps`` inner SGD steps on the support set, mean over the
    tasks (T, K, ...): (steps + 1,); ``per_task``: every task's, (T, steps + 1)."""
    params = {name: p.detach() for name, p in params.items()}

    def one_task(sx, sy, qx, qy):
        losses, weights = [task_loss(model, params, qx, qy, kind)], params
        for _ in range(steps):
            weights = adapt(model, weights, sx, sy, kind, 1, lr, first_order=True)
            losses.append(task_loss(model, weights, qx, qy, kind))
        return torch.stack(losses)  # (steps + 1,)

    losses = vmap(one_task)(support_x, support_y, query_x, query_y)  # (T, steps + 1)
    return losses if per_task else losses.mean(dim=0)


# ----------------------------------------------------------------------------- learner
class MAML(Agent):
    """MAML, first-order MAML, Reptile or the pretrained baseline on a task distribution."""

    name = "maml"
    plays_one_split = False
    Config = MAMLConfig
    config: MAMLConfig
    action_spaces = (gym.spaces.Discrete, gym.spaces.Box)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Any single-step env's action space; :meth:`build` checks the family."""

    def build(self) -> None:
        """Network, meta-optimizer, and the task distribution of the env's family."""
        probe = envs.make_env(self.env_id, **self.env_kwargs)
        single = probe.unwrapped
        probe.close()
        family_kwargs = {k: v for k, v in self.env_kwargs.items() if k not in ("task", "mode", "render_mode", "family")}
        distribution = None
        if isinstance(single, SingleStepEnv) and "family" in self.env_kwargs:
            distribution = build_family(single.task, self.env_kwargs["family"], family_kwargs)
        if not isinstance(distribution, TaskDistribution):
            raise ValueError(
                "maml meta-learns a task distribution: e.g. gymlab/Sine-v0 with --env-kwargs family=sine, or "
                f"gymlab/Digits-v0 with family=few-shot; got {self.env_id} {self.env_kwargs}"
            )
        self.distribution, self.mode = distribution, single.mode
        template = distribution.template("train")
        self.kind = template.kind
        c = self.config
        self.model = build_predictor(c.net, template, c).to(self.device)
        self.params = list(self.model.parameters())
        self.optimizer = make_optimizer(self.params, c.optimizer, c.learning_rate)
        self.examples_per_task = (distribution.k_shot + distribution.n_query) * max(distribution.n_way, 1)

    def modules(self):
        """The initialisation being meta-learned and its optimizer."""
        return {"model": self.model, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Predictions of the meta-learned initialisation (labels for a label-mode env)."""
        prediction = self.model(obs)
        if self.mode == "prediction":
            return prediction
        return CategoricalHead.mode(prediction) if deterministic else CategoricalHead.sample(prediction)

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """Tasks are drawn from the family itself, meta_batch at a time: no env to open."""

    def draw_tasks(self, n: int, split: str, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """``n`` tasks of ``split`` stacked: support x (n, K, ...), y (n, K, ...), query x, y."""
        tasks = [self.distribution.sample(rng, split) for _ in range(n)]
        stacked = [
            np.stack([getattr(t, name) for t in tasks]) for name in ("support_x", "support_y", "query_x", "query_y")
        ]
        return tuple(torch.as_tensor(a, device=self.device) for a in stacked)

    def train_iteration(self) -> dict[str, float]:
        """One meta-update on a meta-batch of training tasks."""
        c = self.config
        support_x, support_y, query_x, query_y = self.draw_tasks(c.meta_batch, "train", self.rng)
        params = dict(self.model.named_parameters())
        lr = self.lr_now()
        set_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        if c.algo in ("maml", "fomaml"):
            loss = maml_loss(self.model, params, support_x, support_y, query_x, query_y, self.kind,
                             c.inner_steps, c.inner_lr, first_order=c.algo == "fomaml")  # fmt: skip
            loss.backward()
        elif c.algo == "reptile":
            x, y = torch.cat([support_x, query_x], dim=1), torch.cat([support_y, query_y], dim=1)
            direction = reptile_direction(self.model, params, x, y, self.kind, c.inner_steps, c.inner_lr)
            for name, p in params.items():
                p.grad = direction[name]
            loss = torch.stack(
                [task_loss(self.model, params, qx, qy, self.kind) for qx, qy in zip(query_x, query_y)]
            ).mean()
        else:  # pretrain: every task's examples at once, no adaptation
            x, y = torch.cat([support_x, query_x], dim=1), torch.cat([support_y, query_y], dim=1)
            loss = vmap(lambda tx, ty: task_loss(self.model, params, tx, ty, self.kind))(x, y).mean()
            loss.backward()
        clip_grad_norm(self.params, c.max_grad_norm)
        self.optimizer.step()
        self.num_timesteps += c.meta_batch * self.examples_per_task
        return {"train/meta_loss": float(loss.detach()), "train/learning_rate": lr}

    def curve(self, split: str = "test", tasks: int | None = None, seed: int = 0, per_task: bool = False) -> np.ndarray:
        """Mean query loss after 0..eval_steps inner steps on ``tasks`` fresh tasks of ``split``
        (``per_task``: each task's, (tasks, eval_steps + 1))."""
        c = self.config
        rng = np.random.default_rng([seed, 2021])
        with self.own_process_state():
            batch = self.draw_tasks(tasks or c.eval_tasks, split, rng)
            losses = adaptation_curve(self.model, dict(self.model.named_parameters()), *batch, self.kind,
                                      c.eval_steps, c.inner_lr, per_task)  # fmt: skip
        return losses.numpy(force=True)

    @torch.no_grad()
    def query_accuracy(self, split: str = "test", tasks: int | None = None, seed: int = 0, steps: int = 0) -> float:
        """Few-shot: query accuracy after ``steps`` inner steps (default inner_steps), mean over tasks."""
        c = self.config
        rng = np.random.default_rng([seed, 2021])
        with self.own_process_state(), torch.enable_grad():
            sx, sy, qx, qy = self.draw_tasks(tasks or c.eval_tasks, split, rng)
            params = {name: p.detach() for name, p in self.model.named_parameters()}

            def one_task(tsx, tsy, tqx, tqy):
                adapted = adapt(self.model, params, tsx, tsy, self.kind, steps or c.inner_steps, c.inner_lr, True)
                return (functional_call(self.model, adapted, (tqx,)).argmax(-1) == tqy).float().mean()

            return float(vmap(one_task)(sx, sy, qx, qy).mean())

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split: str = "test"
    ) -> dict[str, float]:
        """Query loss of fresh ``split`` tasks before and after adaptation (``loss_step{k}``);
        ``mean_reward`` is minus the loss after ``inner_steps`` steps (``std_reward`` its spread over tasks) (and ``accuracy`` that
        step's query accuracy for classification). With ``env`` given, the base class plays it."""
        if env is not None:
            return super().evaluate(episodes, deterministic, seed, env, on_episode, split)
        per_task = self.curve(split, seed=0 if seed is None else seed, per_task=True)  # (tasks, eval_steps + 1)
        curve = per_task.mean(axis=0)
        step = min(self.config.inner_steps, len(curve) - 1)
        stats = {f"loss_step{k}": float(v) for k, v in enumerate(curve)}
        stats.update(mean_reward=-float(curve[step]), std_reward=float(per_task[:, step].std()), mean_ep_length=1.0)
        if self.kind.metric == "accuracy":
            stats["accuracy"] = self.query_accuracy(split, seed=0 if seed is None else seed)
        return stats

    def eval_lines(self, stats: dict[str, float], split: str = "test") -> list[str]:
        """``gymlab eval``: the query loss of fresh ``split`` tasks after ``inner_steps`` inner
        steps (and before any), and the whole adaptation curve."""
        c, d = self.config, self.distribution
        per_task = f"{d.k_shot} support + {d.n_query} query examples" + (
            f" per class, {d.n_way}-way" if d.n_way else ""
        )
        steps = "step" if c.inner_steps == 1 else "steps"
        curve = " ".join(f"{stats[f'loss_step{k}']:.4f}" for k in range(c.eval_steps + 1))
        lines = [
            f"split:       {c.eval_tasks} fresh {d.name} tasks from the {split} split of {d.base} ({per_task})",
            f"query loss:  {-stats['mean_reward']:.4f} after {c.inner_steps} inner {steps} (lr {c.inner_lr:g}) on the "
            f"support set; {stats['loss_step0']:.4f} before adapting",
            f"curve:       {curve} (query loss after 0..{c.eval_steps} inner steps)",
        ]
        if "accuracy" in stats:
            lines.append(f"accuracy:    {stats['accuracy']:.4f} on the query sets after {c.inner_steps} inner {steps}")
        return lines

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """Validation query loss after the inner steps."""
        return {"val/query_loss": float(self.curve("val")[self.config.inner_steps])}
