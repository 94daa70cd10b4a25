"""REINFORCE on a seq2seq task: "when a loss can't be optimised, treat it as the reward".

Exact match (or any score of a whole output) has no gradient: changing a logit a little changes
no output token. So the decoder *acts*: it samples whole outputs (:func:`sample_sequences`),
the seq2seq env in ``mode="label"`` scores them (the fraction of tokens right; exact match is a
score of 1), and :func:`reinforce_sequence_loss` raises the log-probability of the outputs that
scored above the batch's mean. Usually started from a teacher-forced model (``init_from``, or
``gymlab train seq2seq-reinforce ... --init-from RUN``), as RL fine-tuning of sequence models is.

Everything else (network, validation, checkpoints, evaluation) is the supervised learner's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from agents.config import one_of
from agents.optim import clip_grad_norm, set_lr
from agents.seq2seq import Seq2SeqTransformer, greedy_decode, reinforce_sequence_loss, sample_sequences
from agents.supervised import Supervised, SupervisedConfig
from envs.single_step import SingleStepVectorEnv
from supervised.kinds import label_reward

REWARDS: tuple[str, ...] = ("exact", "tokens")
"""``exact``: 1 when the whole output is right, else 0; ``tokens``: the fraction of tokens right."""
BASELINES: tuple[str, ...] = ("greedy", "mean", "none")
"""What is subtracted from a sampled output's reward (see ``baseline``)."""


@dataclass
class SequenceReinforceConfig(SupervisedConfig):
    """REINFORCE fine-tuning hyperparameters (the supervised learner's, plus the reward)."""

    net: str = "transformer"
    """the encoder-decoder that samples outputs (only transformer)"""
    learning_rate: float = 3e-4
    """initial learning rate (small: it fine-tunes)"""
    reward: str = "exact"
    """exact | tokens: the score of a sampled output"""
    baseline: str = "greedy"
    """greedy (the reward of the greedy output for the same input: self-critical sequence
    training, Rennie et al. 2017) | mean (the batch's mean reward) | none"""

    def check(self) -> None:
        """The supervised checks, plus the reward, the baseline and the network."""
        super().check()
        one_of(self, "reward", REWARDS)
        one_of(self, "baseline", BASELINES)
        if self.net != "transformer":
            raise ValueError(f"seq2seq-reinforce samples outputs from a decoder: use net=transformer, got {self.net}")


def sequence_reward(token_fraction: torch.Tensor, reward: str) -> torch.Tensor:
    """The reward of each output from the env's label-mode reward (fraction of tokens right):
    (B,) -> (B,); ``exact`` is 1 where every token is right."""
    return (token_fraction == 1.0).float() if reward == "exact" else token_fraction


class SequenceReinforce(Supervised):
    """Policy gradient on sampled output sequences, scored by the env (no gradient through it)."""

    name = "seq2seq-reinforce"
    Config = SequenceReinforceConfig
    config: SequenceReinforceConfig

    def build(self) -> None:
        """The supervised learner's network; refused unless it is a seq2seq decoder."""
        super().build()
        if not isinstance(self.model, Seq2SeqTransformer):
            raise ValueError(f"seq2seq-reinforce needs a seq2seq task; {self.env_id} is {self.train_set.kind}")

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The batched train env in label mode: actions are tokens, the reward has no gradient."""
        self.envs = SingleStepVectorEnv(
            self.task, self.config.batch_size, "train", "label", self.device,
            check_values=self.device.type == "cpu", rows=self.train_rows, **self.task_kwargs,
        )  # fmt: skip
        self.obs, _ = self.envs.reset(seed=self.seed + self.num_timesteps)
        self.stream_position = 0

    @torch.no_grad()
    def baseline(self, obs: torch.Tensor, reward: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """What the sampled outputs' ``reward`` (B,) is compared with: the same reward of the
        greedy outputs for ``obs`` (scored against the env's ``target``, as the env scores a
        label action), the batch's mean, or 0."""
        if self.config.baseline == "greedy":
            greedy = greedy_decode(self.model, obs)[0]  # (B, T_out)
            return sequence_reward(label_reward(greedy, target), self.config.reward)
        return reward.mean() if self.config.baseline == "mean" else torch.zeros_like(reward)

    def train_iteration(self) -> dict[str, float]:
        """REINFORCE updates to the end of the current pass over the train split, then the
        validation split's reward (greedy outputs), keeping the weights that score best."""
        c, batch = self.config, self.config.batch_size
        n_train = len(self.train_set)
        pass_end = (self.stream_position // n_train + 1) * n_train
        steps = min(-(-(pass_end - self.stream_position) // batch), -(-(c.total_steps - self.num_timesteps) // batch))
        steps = max(steps, 1)
        loss_sum, reward_sum = 0.0, 0.0
        for _ in range(steps):
            lr = self.lr_now()
            set_lr(self.optimizer, lr)
            obs = self.obs
            tokens, log_prob = sample_sequences(self.model, obs)  # (B, T_out), (B,)
            _, token_fraction, _, _, info = self.env_step(tokens)  # (B,): the env's score, no gradient
            reward = sequence_reward(token_fraction, c.reward)
            baseline = self.baseline(obs, reward, info["target"])
            loss = reinforce_sequence_loss(log_prob, reward, baseline)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm(self.params, c.max_grad_norm)
            self.optimizer.step()
            loss_sum += float(loss.detach())
            reward_sum += float(reward.mean())
        self.stream_position += steps * batch
        if self.stream_position >= pass_end:
            self.epoch += 1
        self._record_episodes(reward)

        val = self.score_split("val")  # greedy outputs; val["score"]: fraction of tokens right per example
        val_reward = float(sequence_reward(val["score"], c.reward).mean())
        if self.best_score is None or [-val_reward] < self.best_score:
            self.best_score, self.bad_epochs = [-val_reward], 0
            self.best_model.load_state_dict(self.model.state_dict())
        else:
            self.bad_epochs += 1
        finished = self.num_timesteps >= c.total_steps
        if c.patience and self.bad_epochs >= c.patience:
            self.stopped_early = finished = True
            self.config = dataclasses.replace(c, total_steps=self.num_timesteps)
        if finished:
            self.model.load_state_dict(self.best_model.state_dict())
        return {
            "train/loss": loss_sum / steps,
            "train/reward": reward_sum / steps,
            "train/learning_rate": lr,
            "train/epoch": self.epoch,
            "eval/reward": val_reward,
            "eval/accuracy": float(val["accuracy"]),
        }
