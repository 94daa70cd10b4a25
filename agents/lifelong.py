"""Lifelong (continual) learning (HW14): one network trained on a sequence of tasks, one after
another, on the schedule of a sequence family (``family=permuted`` or ``split``).

Training on task k steps that task's batched env alone (the pathwise learner's loss, -reward),
so plain fine-tuning forgets the earlier tasks. Against forgetting:

- ``reg=ewc|mas|si|scp``: after each task, the weights and an importance per weight are kept
  (:mod:`supervised.lifelong`) and ``lamb * sum Omega (theta - theta*)^2`` joins the loss;
- ``replay=M``: M examples of every finished task are kept and replayed beside the current
  task's batch (experience replay);
- ``multitask=true``: every task so far is trained on at once (the upper bound; no forgetting
  by construction).

At the end of task i the test accuracy on every task j gives the row R[i, :] of the accuracy
matrix; the average accuracy (mean of the last row) and the backward transfer go to
TensorBoard (``lifelong/*``), ``lifelong.json`` in the run directory and ``evaluate()``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

import envs
from agents.base import Agent
from agents.config import TrainConfig, one_of, positive
from agents.networks import CategoricalHead
from agents.optim import clip_grad_norm, make_optimizer, set_lr
from agents.supervised import build_predictor
from envs.single_step import SingleStepEnv, SingleStepVectorEnv
from supervised.families import TaskSequence, build_family
from supervised.lifelong import (
    average_accuracy,
    backward_transfer,
    ewc_importance,
    mas_importance,
    quadratic_penalty,
    scp_importance,
    si_importance,
)

REGULARISERS: tuple[str, ...] = ("none", "ewc", "mas", "si", "scp")
"""Values of ``reg``."""


@dataclass
class LifelongConfig(TrainConfig):
    """Lifelong learner hyperparameters; the network is the supervised learner's."""

    total_steps: int = 0
    """training examples in all; 0: to the end of the sequence's schedule (the last task as long as the one before)"""
    n_envs: int = 1
    """must stay 1: one batched env scores batch_size examples per step"""
    learning_rate: float = 1e-3
    """initial learning rate"""
    max_grad_norm: float = 0.0
    """clip the global gradient norm to this (0 disables)"""
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """hidden layer sizes of the MLP (the last one is the CNN's feature size)"""
    activation: str = "relu"
    """tanh | relu | gelu | elu | leaky_relu"""
    ortho_init: bool = False
    """orthogonal initialisation (PyTorch's default init otherwise)"""
    net: str = "mlp"
    """mlp | cnn (image tasks)"""
    batch_size: int = 64
    """examples per gradient step"""
    reg: str = "none"
    """none (fine-tuning) | ewc | mas | si | scp: the importance that weighs the quadratic penalty"""
    lamb: float = 1.0
    """strength of the penalty lamb * sum Omega (theta - theta*)^2"""
    replay: int = 0
    """examples of every finished task kept and replayed beside the current batch (0: none)"""
    multitask: bool = False
    """train on every task so far at once (the upper bound; reg must be none)"""
    importance_examples: int = 0
    """train examples of a task its importance is measured on (0: the whole train split)"""
    si_xi: float = 0.1
    """SI's damping xi in omega / (delta^2 + xi)"""
    scp_slices: int = 100
    """SCP's random directions of the output space"""
    eval_batch_size: int = 1024
    """examples per forward pass when scoring a split"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        if self.total_steps < 0:
            raise ValueError(f"total_steps must be >= 0 (0: the schedule's end), got {self.total_steps}")
        TrainConfig.check(dataclasses.replace(self, total_steps=self.total_steps or 1))
        positive(self, "batch_size", "si_xi", "scp_slices", "eval_batch_size")
        one_of(self, "reg", REGULARISERS)
        one_of(self, "net", ("mlp", "cnn"))
        if self.n_envs != 1:
            raise ValueError(f"lifelong steps one batched env, so n_envs must be 1 (got {self.n_envs}); set batch_size")
        if self.lamb < 0 or self.replay < 0 or self.importance_examples < 0:
            raise ValueError(
                f"lamb, replay and importance_examples must be >= 0 (got {self.lamb}, {self.replay}, "
                f"{self.importance_examples})"
            )
        if self.multitask and (self.reg != "none" or self.replay):
            raise ValueError("multitask=true trains on every task at once; use it with reg=none and replay=0")


def schedule_end(sequence: TaskSequence) -> int:
    """Examples a whole sequence takes: its last switch plus the span of the task before."""
    steps = (0, *sequence.switch_steps)
    if len(steps) == 1:
        return len(sequence.dataset(0, "train"))
    return steps[-1] + steps[-1] - steps[-2]


class Lifelong(Agent):
    """One network through a task sequence; regularisers, replay or multitask against forgetting."""

    name = "lifelong"
    plays_one_split = False
    Config = LifelongConfig
    config: LifelongConfig
    action_spaces = (gym.spaces.Discrete,)

    def build(self) -> None:
        """Network, optimizer, the sequence and its per-task datasets."""
        probe = envs.make_env(self.env_id, **self.env_kwargs)
        single = probe.unwrapped
        probe.close()
        family_kwargs = {k: v for k, v in self.env_kwargs.items() if k not in ("task", "mode", "render_mode", "family")}
        sequence = None
        if isinstance(single, SingleStepEnv) and "family" in self.env_kwargs:
            sequence = build_family(single.task, self.env_kwargs["family"], family_kwargs)
        if not isinstance(sequence, TaskSequence) or "task_id" in family_kwargs:
            raise ValueError(
                f"lifelong trains a task sequence: pass --env-kwargs family=permuted (or split), e.g. "
                f"gymlab/Digits-v0 with family=permuted n_tasks=5; got {self.env_id} {self.env_kwargs}"
            )
        self.task, self.sequence, self.family_kwargs = single.task, sequence, family_kwargs
        c = self.config
        if c.total_steps == 0:
            self.config = c = dataclasses.replace(c, total_steps=schedule_end(sequence))
        first = sequence.dataset(0, "train")
        self.model = build_predictor(c.net, first, c).to(self.device)
        self.params = list(self.model.parameters())
        self.optimizer = make_optimizer(self.params, c.optimizer, c.learning_rate)
        self.current_task = 0
        self.matrix: list[list[float]] = []  # R[i][j]: test accuracy on task j after task i
        self.anchors: list[tuple[dict, dict]] = []  # (importance, weights) of every finished task
        self.memory: list[tuple[torch.Tensor, torch.Tensor]] = []  # replay: (x, y) of every finished task
        self.si_path = self._zeros()  # SI: running sum of -grad * step over the current task
        self.si_start = self._weights()
        self._splits: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self.past_envs: list[SingleStepVectorEnv] = []  # multitask: the earlier tasks' train envs
        self.past_obs: list[torch.Tensor] = []  # multitask: each one's batch awaiting a prediction

    def modules(self):
        """The network and its optimizer (the sequence's state is in :meth:`state_dict`)."""
        return {"model": self.model, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Labels: argmax of the logits, or sampled from the softmax."""
        logits = self.model(obs)
        return CategoricalHead.mode(logits) if deterministic else CategoricalHead.sample(logits)

    # ------------------------------------------------------------------ data
    def _weights(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.model.named_parameters()}

    def _zeros(self) -> dict[str, torch.Tensor]:
        return {name: torch.zeros_like(p) for name, p in self.model.named_parameters()}

    def split_tensors(self, task_id: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of ``split`` of task ``task_id`` on the device (cached)."""
        key = (task_id, split)
        if key not in self._splits:
            data = self.sequence.dataset(task_id, split)
            self._splits[key] = (
                torch.from_numpy(data.x.copy()).to(self.device),
                torch.from_numpy(data.y.copy()).to(self.device),
            )
        return self._splits[key]

    def task_env(self, task_id: int) -> SingleStepVectorEnv:
        """The batched train env of task ``task_id`` (prediction mode: the reward has a gradient)."""
        env = SingleStepVectorEnv(
            self.task, self.config.batch_size, "train", "prediction", self.device,
            check_values=self.device.type == "cpu", family=self.env_kwargs["family"], task_id=task_id,
            **self.family_kwargs,
        )  # fmt: skip
        return env

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The current task's train env (``video_dir`` is ignored: a batch has no frames)."""
        self.envs = self.task_env(self.current_task)
        self.obs, _ = self.envs.reset(seed=self.seed + self.num_timesteps)
        self.past_envs, self.past_obs = [], []
        if self.config.multitask:
            for k in range(self.current_task):
                env = self.task_env(k)
                self.past_envs.append(env)
                self.past_obs.append(env.reset(seed=self.seed + self.num_timesteps + k + 1)[0])

    # ------------------------------------------------------------------ training
    def task_end(self) -> int:
        """The step at which the current task ends (the next switch, or the end of training)."""
        switches = self.sequence.switch_steps
        end = switches[self.current_task] if self.current_task < len(switches) else self.config.total_steps
        return min(end, self.config.total_steps)

    def train_iteration(self) -> dict[str, float]:
        """Gradient steps to the end of the current pass over the task's train split (or of the
        task); at a task's end, its row of the accuracy matrix and its consolidation."""
        c, batch = self.config, self.config.batch_size
        n_train = len(self.envs.dataset)
        steps = max(1, min(-(-n_train // batch), -(-(self.task_end() - self.num_timesteps) // batch)))
        loss_sum, penalty_sum = 0.0, 0.0
        for _ in range(steps):
            lr = self.lr_now()
            set_lr(self.optimizer, lr)
            prediction = self.model(self.obs)  # (B, n_classes)
            _, reward, _, _, _ = self.env_step(prediction)  # reward = -loss, (B,) with a graph
            loss = self.forgetting_loss(-reward.mean())
            penalty = self.penalty()
            self.optimizer.zero_grad(set_to_none=True)
            (loss + penalty).backward()
            clip_grad_norm(self.params, c.max_grad_norm)
            before = self._weights() if c.reg == "si" else None
            self.optimizer.step()
            if before is not None:  # SI's path integral: -grad . step, per weight
                for name, p in self.model.named_parameters():
                    self.si_path[name] -= p.grad.detach() * (p.detach() - before[name])
            loss_sum += float(loss.detach())
            penalty_sum += float(penalty.detach())
        metrics = {
            "train/loss": loss_sum / steps,
            "train/penalty": penalty_sum / steps,
            "train/learning_rate": lr,
            "train/task": self.current_task,
        }
        if self.num_timesteps >= self.task_end():
            metrics.update(self.finish_task())
        return metrics

    def forgetting_loss(self, current: torch.Tensor) -> torch.Tensor:
        """The current task's loss, averaged with the replayed tasks' (replay) or with every
        earlier task's (multitask), each task weighing the same."""
        if self.config.multitask and self.past_envs:
            losses = [current]
            for k, env in enumerate(self.past_envs):
                self.past_obs[k], reward, _, _, _ = env.step(self.model(self.past_obs[k]))
                losses.append(-reward.mean())
            return torch.stack(losses).mean()
        if self.config.replay and self.memory:
            x = torch.cat([m[0] for m in self.memory])  # (M * tasks, ...)
            y = torch.cat([m[1] for m in self.memory])
            rows = torch.from_numpy(self.rng.integers(0, len(x), self.config.batch_size)).to(self.device)
            replayed = self.envs.dataset.kind.loss(self.model(x[rows]), y[rows]).mean()
            k = len(self.memory)
            return (current + k * replayed) / (k + 1)
        return current

    def penalty(self) -> torch.Tensor:
        """lamb * sum over finished tasks of Omega (theta - theta*)^2 (0 before the first)."""
        if self.config.reg == "none" or not self.anchors:
            return torch.zeros((), device=self.device)
        return self.config.lamb * quadratic_penalty(dict(self.model.named_parameters()), self.anchors)

    def importance(self, task_id: int) -> dict[str, torch.Tensor]:
        """The finished task's importance per weight, by ``reg``."""
        c = self.config
        if c.reg == "si":
            return si_importance(self.si_path, self.si_start, self._weights(), c.si_xi)
        x, _ = self.split_tensors(task_id, "train")
        if c.importance_examples:
            x = x[: c.importance_examples]
        generator = torch.Generator().manual_seed(self.seed * 1000 + task_id)
        if c.reg == "ewc":
            return ewc_importance(self.model, x, generator=generator)
        if c.reg == "mas":
            return mas_importance(self.model, x)
        return scp_importance(self.model, x, c.scp_slices, generator)

    def finish_task(self) -> dict[str, float]:
        """The current task is done: its row of R, its importance and anchor, its replay
        memory; then the next task's env. Returns the ``lifelong/*`` figures."""
        c, task = self.config, self.current_task
        row = self.accuracies("test")
        self.matrix.append(row)
        if c.reg != "none":
            self.anchors.append((self.importance(task), self._weights()))
            self.si_path, self.si_start = self._zeros(), self._weights()
        if c.replay:
            x, y = self.split_tensors(task, "train")
            rows = torch.from_numpy(self.rng.choice(len(x), min(c.replay, len(x)), replace=False)).to(self.device)
            self.memory.append((x[rows], y[rows]))
        figures = {f"lifelong/accuracy_task{j}": value for j, value in enumerate(row)}
        figures["lifelong/seen_tasks_accuracy"] = float(np.mean(row[: task + 1]))
        self.log_row(task, row)
        if self.num_timesteps < c.total_steps and task + 1 < self.sequence.n_tasks:
            self.current_task = task + 1
            self.open_envs()
        else:
            figures["lifelong/average_accuracy"] = average_accuracy(self.matrix)
            figures["lifelong/backward_transfer"] = backward_transfer(self.matrix)
            self.write_matrix()
        return figures

    def log_row(self, task: int, row: list[float]) -> None:
        """R[task, j] to TensorBoard as ``lifelong/R/task{j}`` at x = task (one curve per task)."""
        if self.writer is None:
            return
        for j, value in enumerate(row):
            self.writer.add_scalar(f"lifelong/R/task{j}", value, task)

    def write_matrix(self) -> None:
        """``lifelong.json`` in the run directory: the matrix, average accuracy and BWT."""
        if self.run_dir is None or len(self.matrix) != self.sequence.n_tasks:
            return
        result = self.lifelong_figures()
        (self.run_dir / "lifelong.json").write_text(json.dumps(result, indent=2) + "\n")
        if self.writer is not None:
            self.writer.add_scalar("lifelong/average_accuracy", result["average_accuracy"], self.num_timesteps)
            self.writer.add_scalar("lifelong/backward_transfer", result["backward_transfer"], self.num_timesteps)
            self.writer.add_text("lifelong/matrix", json.dumps(result["matrix"]), self.num_timesteps)

    def lifelong_figures(self) -> dict:
        """``{"matrix": R, "average_accuracy", "backward_transfer"}`` of the rows so far."""
        return {
            "matrix": self.matrix,
            "average_accuracy": average_accuracy(self.matrix) if self.matrix else math.nan,
            "backward_transfer": backward_transfer(self.matrix) if self.matrix else math.nan,
        }

    @torch.no_grad()
    def accuracies(self, split: str) -> list[float]:
        """Accuracy of the current weights on ``split`` of every task of the sequence."""
        result = []
        for task_id in range(self.sequence.n_tasks):
            x, y = self.split_tensors(task_id, split)
            right = sum(
                int(
                    (
                        self.model(x[i : i + self.config.eval_batch_size]).argmax(-1)
                        == y[i : i + self.config.eval_batch_size]
                    ).sum()
                )
                for i in range(0, len(x), self.config.eval_batch_size)
            )
            result.append(right / len(x))
        return result

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split: str = "test"
    ) -> dict[str, float]:
        """Accuracy on ``split`` of every task (each example once, argmax): ``mean_reward`` and
        ``accuracy`` are their mean, ``std_reward`` their spread over tasks, ``accuracy_task{j}`` each. With ``env`` given, the base
        class plays that env."""
        if env is not None:
            return super().evaluate(episodes, deterministic, seed, env, on_episode, split)
        with self.own_process_state():
            per_task = self.accuracies(split)
        stats = {"mean_reward": float(np.mean(per_task)), "std_reward": float(np.std(per_task)),
                 "accuracy": float(np.mean(per_task)), "mean_ep_length": 1.0}  # fmt: skip
        stats.update({f"accuracy_task{j}": value for j, value in enumerate(per_task)})
        if split == "test" and len(self.matrix) == self.sequence.n_tasks:  # R was measured on the test splits
            stats["average_accuracy"] = average_accuracy([per_task])
            stats["backward_transfer"] = backward_transfer([*self.matrix[:-1], per_task])
        return stats

    def eval_lines(self, stats: dict[str, float], split: str = "test") -> list[str]:
        """``gymlab eval``: the accuracy on every task now (the final row of R once the sequence is
        done), the average accuracy and the backward transfer, and the rows of R from training."""
        n, last = self.sequence.n_tasks, len(self.matrix) - 1
        row = " ".join(f"{stats[f'accuracy_task{j}']:.4f}" for j in range(n))
        size = sum(len(self.sequence.dataset(j, split)) for j in range(n))
        lines = [f"split:       {split} split of each of the {n} tasks ({self.sequence.transform} {self.sequence.base}, "
                 f"{size} examples in all)"]  # fmt: skip
        if "backward_transfer" in stats:
            lines += [
                f"final row:   R[{last}, :] = {row} (accuracy on task j after the whole sequence)",
                f"average:     {stats['average_accuracy']:.4f} (mean of the final row)",
                f"backward:    {stats['backward_transfer']:+.4f} (backward transfer: mean over j < {last} of "
                f"R[{last}, j] - R[j, j]; below 0 = forgetting)",
            ]
        else:
            done = f"after task {last}" if self.matrix else "before the end of task 0"
            lines.append(f"accuracy:    {row} (on task j; the run stopped {done}, so R has no final row)")
        lines += [f"R[{i}, :]:     {' '.join(f'{v:.4f}' for v in r)} (after training task {i})"
                  for i, r in enumerate(self.matrix)]  # fmt: skip
        return lines

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """Average accuracy and backward transfer over the sequence's test splits."""
        figures = self.lifelong_figures()
        return {
            "lifelong/average_accuracy": figures["average_accuracy"],
            "lifelong/backward_transfer": figures["backward_transfer"],
        }

    def state_dict(self) -> dict:
        """The base state plus the sequence's: rows of R, anchors, replay memory, SI's sums."""
        state = super().state_dict()
        state["lifelong"] = {
            "matrix": self.matrix,
            "anchors": [[dict(importance), dict(weights)] for importance, weights in self.anchors],
            "memory": [[x, y] for x, y in self.memory],
            "si_path": self.si_path,
            "si_start": self.si_start,
        }
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore from :meth:`state_dict`; the sequence's state comes back with the weights too
        (the matrix so far is part of what a loaded run reports)."""
        super().load_state_dict(state, weights_only)
        if "lifelong" not in state:
            return
        saved = state["lifelong"]
        self.matrix = [list(row) for row in saved["matrix"]]
        self.anchors = [(importance, weights) for importance, weights in saved["anchors"]]
        self.memory = [(x, y) for x, y in saved["memory"]]
        self.si_path, self.si_start = saved["si_path"], saved["si_start"]
        self.current_task = self.sequence.task_at(self.num_timesteps)
