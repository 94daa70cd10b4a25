"""Generative adversarial network: the generator is an agent whose action is a sample, the
discriminator is a learned reward (Goodfellow et al. 2014; WGAN-GP: Gulrajani et al. 2017).

The env is a single-step dataset env (``gymlab/Digits-v0``): the learner only draws real inputs
x from it (a batch of ``n_envs`` per step) and never answers its question. The discriminator,
its loss, the generator's loss and the reward are the adversarial pieces GAIL shares
(:mod:`agents.adversarial`); the evaluation (Fréchet distance on a classifier's features, class
diversity) is :mod:`agents.gan_eval`. Read top to bottom: the config, the generator and the
moving average of its weights, then the learner.

Samples (:meth:`GAN.sample`, the evaluation, the sample grids) come from an exponential moving
average of the generator's weights (``ema_decay``); the trained generator itself only serves
the adversarial updates.

Conditional GAN (``conditional=true``, Mirza & Osindero 2014): generator and discriminator both
read the class y. The generator gets its one-hot concatenated to the noise; the mlp discriminator
gets it concatenated to the flattened input, the conv one adds the projection ``embed(y) . h`` of
its CNN features h to its logit (Miyato & Koyama 2018). Real inputs come with their labels (the
env's targets); fakes for the discriminator are drawn for the same labels, fakes for the
generator's update for uniformly drawn ones. ``evaluate`` then reports ``condition_agreement``:
the fraction of samples that the judge classifies as the class they were drawn for.

Logged: ``train/disc_loss``, ``train/gen_loss``, the discriminator's accuracies and mean logits,
``rollout/ep_rew_mean`` = the generator's reward ``-log(1 - D)`` (each sample is a one-step
episode), and, once :meth:`GAN.attach_run` has given it a run directory, a grid of samples from
fixed noise in ``RUN_DIR/samples.png`` and TensorBoard's IMAGES tab (``samples/generated``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.adversarial import (
    LOSSES,
    ConvDiscriminator,
    Discriminator,
    adversarial_reward,
    discriminator_accuracy,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)
from agents.base import Agent
from agents.config import TrainConfig, one_of, positive
from agents.gan_eval import HELD_OUT_SPLITS, condition_agreement, gan_metrics, image_grid, judge_for
from agents.networks import activation, mlp, obs_dim
from agents.optim import make_optimizer, set_lr

NETS: tuple[str, ...] = ("mlp", "conv")
"""GAN networks: MLPs over flat inputs, or (image data) a transposed-convolution generator
against a convolutional discriminator (DCGAN, Radford et al. 2016)."""


@dataclass
class GANConfig(TrainConfig):
    """GAN hyperparameters; a "step" is one real example drawn from the dataset env."""

    total_steps: int = 300_000
    """real examples to draw (one discriminator batch of n_envs per step)"""
    n_envs: int = 64
    """batch size: real examples per discriminator update (one single-step env each)"""
    learning_rate: float = 2e-4
    """generator learning rate"""
    disc_learning_rate: float = 2e-4
    """discriminator learning rate (follows the same schedule)"""
    adam_beta1: float = 0.5
    """Adam's first beta for both networks (0.5: DCGAN's and WGAN-GP's setting)"""
    adam_beta2: float = 0.999
    """Adam's second beta for both networks (WGAN-GP's paper uses 0.9)"""
    max_grad_norm: float = 0.0
    """clip each network's gradient norm to this (0 disables)"""
    net: str = "mlp"
    """mlp | conv (image data: a transposed-convolution generator against a CNN discriminator)"""
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """hidden layer sizes of the mlp generator"""
    disc_hidden: list[int] = field(default_factory=lambda: [256, 256])
    """hidden layer sizes of the mlp discriminator; conv: the last is the CNN's feature size"""
    channels: int = 64
    """conv: channels of the generator's last feature map (twice as many before its upsampling)"""
    activation: str = "leaky_relu"
    """activation of both networks"""
    z_dim: int = 32
    """size of the generator's Gaussian noise input"""
    loss: str = "standard"
    """standard (non-saturating cross-entropy) | wgan-gp"""
    disc_steps: int = 1
    """discriminator updates per generator update (WGAN-GP papers use 5)"""
    ema_decay: float = 0.999
    """decay of the moving average of the generator's weights that sample() draws from (Karras et
    al. 2018, Yazici et al. 2019: it smooths the generator's oscillation); 0: the trained weights"""
    gp_coef: float = 10.0
    """gradient penalty weight at real/fake interpolates, for either loss (0: none; wgan-gp needs it)"""
    sample_every: int = 0
    """iterations between sample grids in TensorBoard and the run directory (0: ten per run)"""
    judge_seed: int = 0
    """seed of the classifier that evaluate() trains to judge the samples"""
    conditional: bool = False
    """conditional GAN: generator and discriminator both read the class (a labelled task only)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "disc_learning_rate", "z_dim", "disc_steps", "channels")
        one_of(self, "loss", LOSSES)
        one_of(self, "net", NETS)
        if self.net == "conv" and not self.disc_hidden:
            raise ValueError(
                "net=conv takes the CNN discriminator's feature size from disc_hidden; set disc_hidden=256"
            )
        if not (0.0 <= self.adam_beta1 < 1.0 and 0.0 <= self.adam_beta2 < 1.0):
            raise ValueError(f"adam_beta1 and adam_beta2 must be in [0, 1), got {self.adam_beta1}, {self.adam_beta2}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(
                f"ema_decay must be in [0, 1) (0.999 is usual; 0 turns the average off), got {self.ema_decay}"
            )
        if self.gp_coef < 0 or self.sample_every < 0:
            raise ValueError("gp_coef and sample_every must be >= 0")
        if self.loss == "wgan-gp" and self.gp_coef == 0:
            raise ValueError("loss=wgan-gp needs its gradient penalty: set gp_coef > 0 (10 in the paper)")


class Generator(nn.Module):
    """Noise ``(B, z_dim)`` -> samples ``(B, *shape)`` whose tanh output is mapped onto the data's
    [low, high] (or left linear when the data is unbounded).

    mlp: an ``mlp`` through ``hidden``. conv (images ``(C, H, W)``, H and W even): a linear map to
    ``2 * channels`` maps of H/2 x W/2, a stride-2 transposed convolution up to ``channels`` maps
    of H x W, and a 3x3 convolution down to C (DCGAN's upsampling, without batch norm so that a
    sample does not depend on the rest of its batch).

    ``n_classes`` > 0 (a conditional GAN): the class's one-hot is concatenated to the noise, so
    the first layer reads ``z_dim + n_classes`` inputs and ``forward`` needs the labels.
    """

    def __init__(
        self,
        z_dim: int,
        shape: tuple[int, ...],
        hidden: list[int],
        act: str,
        low: float,
        high: float,
        net: str = "mlp",
        channels: int = 64,
        n_classes: int = 0,
    ):
        super().__init__()
        self.shape, self.bounded = tuple(shape), bool(np.isfinite([low, high]).all())
        self.n_classes = n_classes
        output_act = "tanh" if self.bounded else None
        in_dim = z_dim + n_classes
        if net == "mlp":
            self.net = mlp([in_dim, *hidden, int(np.prod(shape))], act, output_act=output_act)
        elif net == "conv":
            if len(shape) != 3 or shape[1] % 2 or shape[2] % 2:
                raise ValueError(f"net=conv generates images (C, H, W) with even H and W, not {shape}; use net=mlp")
            c, h, w = shape
            a = activation(act)
            self.net = nn.Sequential(
                nn.Linear(in_dim, 2 * channels * (h // 2) * (w // 2)), a(),
                nn.Unflatten(1, (2 * channels, h // 2, w // 2)),  # (B, 2ch, H/2, W/2)
                nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), a(),  # (B, ch, H, W)
                nn.Conv2d(channels, c, 3, padding=1),  # (B, C, H, W)
                *([activation(output_act)()] if output_act else []),
            )  # fmt: skip
        else:
            raise ValueError(f"net must be one of {', '.join(NETS)}; got {net!r}")
        self.low, self.high = (float(low), float(high)) if self.bounded else (-1.0, 1.0)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], dim=1)  # (B, z_dim + K)
        x = self.net(z)  # (B, prod(shape)) or (B, C, H, W)
        if self.bounded:
            x = self.low + (self.high - self.low) * (x + 1.0) / 2.0
        return x.reshape(len(z), *self.shape)


class ConditionalDiscriminator(nn.Module):
    """D(x, y) as a logit: an ``mlp`` over the flattened input with the class's one-hot
    concatenated. (B, *shape), (B,) -> (B,)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: list[int], act: str = "leaky_relu"):
        super().__init__()
        self.n_classes = n_classes
        self.net = Discriminator(in_dim + n_classes, hidden, act)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(labels, self.n_classes).to(x.dtype)  # (B, K)
        return self.net(torch.cat([x.flatten(1), one_hot], dim=1))


class ProjectionDiscriminator(nn.Module):
    """D(x, y) for images: the ``ConvDiscriminator``'s logit plus the projection ``embed(y) . h``
    of its CNN features h (Miyato & Koyama 2018). (B, C, H, W), (B,) -> (B,)."""

    def __init__(self, obs_shape: tuple[int, ...], n_classes: int, features: int, act: str = "leaky_relu"):
        super().__init__()
        self.unconditional = ConvDiscriminator(obs_shape, features, act)
        self.embed = nn.Embedding(n_classes, self.unconditional.body.out_dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.unconditional.body(x)  # (B, F)
        projection = (self.embed(labels) * features).sum(dim=1)  # (B,)
        return self.unconditional.head(features).squeeze(-1) + projection


def ema_update(average: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of weights, in place: ``average <- decay * average + (1 - decay)
    * model`` for every parameter (buffers are copied). ``decay = 0`` copies ``model``."""
    with torch.no_grad():
        for avg, new in zip(average.parameters(), model.parameters(), strict=True):
            avg.lerp_(new, 1.0 - decay)
        for avg, new in zip(average.buffers(), model.buffers(), strict=True):
            avg.copy_(new)


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay for the ``updates``-th average (0-based): ``min(decay, (1 + t) / (10 + t))``, so
    the first averages follow the weights closely instead of lagging at their random start
    (the warm-up of TensorFlow's ``ExponentialMovingAverage(num_updates=t)``)."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class GAN(Agent):
    """Generator (the agent: its action is a sample) against a discriminator (the learned reward)."""

    name = "gan"
    plays_one_split = False
    Config = GANConfig
    config: GANConfig
    action_spaces = (gym.spaces.Box,)  # its actions are samples, whatever the env's questions are

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """A GAN generates observations: they must be a float Box."""
        if not isinstance(observation_space, gym.spaces.Box):
            raise ValueError(f"gan generates observations and needs a Box observation space, got {observation_space}")

    def build(self) -> None:
        """Generator, discriminator and their optimizers."""
        from envs.single_step import task_env_ids

        c = self.config
        known = task_env_ids()
        if self.env_id not in known:
            raise ValueError(
                f"gan learns the inputs of a dataset env ({', '.join(known)}), not {self.env_id}; "
                "try `gymlab train gan gymlab/Digits-v0`"
            )
        self.task = self.env_kwargs.get("task", known[self.env_id]["task"])
        self.n_classes = self.condition_classes() if c.conditional else 0
        space = self.observation_space
        low, high = float(np.min(space.low)), float(np.max(space.high))
        generator = Generator(
            c.z_dim, space.shape, c.hidden, c.activation, low, high, c.net, c.channels, self.n_classes
        )
        self.generator = generator.to(self.device)
        self.ema_generator = copy.deepcopy(self.generator).requires_grad_(False)  # what sample() uses
        if c.net == "conv" and c.conditional:
            discriminator = ProjectionDiscriminator(space.shape, self.n_classes, c.disc_hidden[-1], c.activation)
        elif c.net == "conv":
            discriminator = ConvDiscriminator(space.shape, c.disc_hidden[-1], c.activation)
        elif c.conditional:
            discriminator = ConditionalDiscriminator(obs_dim(space), self.n_classes, c.disc_hidden, c.activation)
        else:
            discriminator = Discriminator(obs_dim(space), c.disc_hidden, c.activation)
        self.discriminator = discriminator.to(self.device)
        self.gen_optimizer = self._adam(self.generator, c.learning_rate)
        self.disc_optimizer = self._adam(self.discriminator, c.disc_learning_rate)

    def condition_classes(self) -> int:
        """The number of classes a conditional GAN draws from; ValueError for an unlabelled task."""
        from supervised.registry import get_task, load_task

        if not get_task(self.task).kind.labelled or get_task(self.task).kind.metric != "accuracy":
            raise ValueError(
                f"conditional=true draws samples of a class, so it needs a classification task, not {self.task!r}; "
                "try gymlab/Digits-v0"
            )
        train = load_task(self.task, "train")
        if train.y.ndim != 1:
            raise ValueError(
                f"conditional=true needs one class per example; {self.task!r} labels every position "
                f"{train.y.shape[1:]}: try gymlab/Digits-v0"
            )
        if self.env_kwargs.get("classes") is not None:
            raise ValueError("conditional=true draws every class of the task; drop --env-kwargs classes=")
        return train.n_classes

    def _adam(self, net: nn.Module, lr: float) -> torch.optim.Optimizer:
        optimizer = make_optimizer(net.parameters(), self.config.optimizer, lr)
        for group in optimizer.param_groups:
            if "betas" in group:
                group["betas"] = (self.config.adam_beta1, self.config.adam_beta2)
        return optimizer

    def modules(self):
        """Both networks, the generator's moving average and both optimizers."""
        return {
            "generator": self.generator,
            "ema_generator": self.ema_generator,
            "discriminator": self.discriminator,
            "gen_optimizer": self.gen_optimizer,
            "disc_optimizer": self.disc_optimizer,
        }

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The real-data stream: a batched single-step env of the task's training split,
        ``n_envs`` examples per step (``video_dir`` is ignored: samples are logged as images)."""
        from envs.single_step import SingleStepVectorEnv

        self.envs = SingleStepVectorEnv(self.task, self.config.n_envs, "train", "prediction", self.device)
        self.obs, _ = self.envs.reset(seed=self.seed + self.num_timesteps)
        self._no_answer = torch.zeros(self.envs.action_space.shape, device=self.device)

    def next_real_batch(self) -> torch.Tensor:
        """The current batch of real inputs ``(B, *obs_shape)``; steps the env to the next one."""
        real = self.obs.float()
        self.env_step(self._no_answer)  # the answer is ignored: the env only serves x
        return real

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The generator's input: ``n`` standard Gaussian vectors ``(n, z_dim)``."""
        return torch.randn(n, self.config.z_dim, generator=generator, device=self.device)

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``n`` generated inputs ``(n, *obs_shape)`` from the moving average of the generator's
        weights (``ema_decay``); training draws from the trained generator itself. A conditional
        GAN draws sample i of class ``labels[i]`` (default: the classes in turn, 0, 1, ..., K-1, 0, ...)."""
        if self.n_classes and labels is None:
            labels = self.balanced_labels(n)
        return self.ema_generator(self.noise(n, generator), labels)

    def balanced_labels(self, n: int) -> torch.Tensor:
        """The classes in turn: ``(n,)`` labels 0, 1, ..., K-1, 0, 1, ..."""
        return torch.arange(n, device=self.device) % self.n_classes

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The discriminator's logits ``(B,)``, given the labels when it is conditional."""
        return self.discriminator(x) if labels is None else self.discriminator(x, labels)

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """One sample per observation (the observations themselves are not used)."""
        return self.sample(len(obs))

    def train_iteration(self) -> dict[str, float]:
        """``disc_steps`` discriminator updates on real and generated batches, then one
        generator update and its moving average; samples are logged every ``sample_every``
        iterations."""
        c = self.config
        lr_scale = self.lr_now() / c.learning_rate
        set_lr(self.gen_optimizer, c.learning_rate * lr_scale)
        set_lr(self.disc_optimizer, c.disc_learning_rate * lr_scale)
        penalty = torch.zeros(())
        for _ in range(c.disc_steps):
            labels = self.envs.pending_targets() if c.conditional else None  # (B,) the real inputs' classes
            real = self.next_real_batch()  # (B, *obs_shape)
            with torch.no_grad():
                fake = self.generator(self.noise(len(real)), labels)  # the same classes as the real batch
            real_logits, fake_logits = self.discriminate(real, labels), self.discriminate(fake, labels)
            disc_loss = discriminator_loss(real_logits, fake_logits, c.loss)
            if c.gp_coef > 0:  # on the standard loss too: it stabilises it (Fedus et al. 2018)
                critic = self.discriminator if labels is None else partial(self.discriminator, labels=labels)
                penalty = gradient_penalty(critic, real, fake)
                disc_loss = disc_loss + c.gp_coef * penalty
            self._step(self.disc_optimizer, self.discriminator, disc_loss)
        labels = torch.randint(self.n_classes, (c.n_envs,), device=self.device) if c.conditional else None
        gen_logits = self.discriminate(self.generator(self.noise(c.n_envs), labels), labels)  # (B,)
        gen_loss = generator_loss(gen_logits, c.loss)
        self._step(self.gen_optimizer, self.generator, gen_loss)
        ema_update(self.ema_generator, self.generator, ema_decay_at(c.ema_decay, self.iterations))
        self._record_episodes(adversarial_reward(gen_logits.detach()))
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        real_acc, fake_acc = discriminator_accuracy(real_logits, fake_logits)
        every = c.sample_every or max(1, c.total_steps // (10 * c.n_envs * c.disc_steps))
        if self.run_dir is not None and (self.iterations % every == 0 or self.num_timesteps >= c.total_steps):
            self.log_samples()
        return {
            "train/disc_loss": float(disc_loss.detach()),
            "train/gen_loss": float(gen_loss.detach()),
            "train/disc_real_acc": real_acc,
            "train/disc_fake_acc": fake_acc,
            "train/disc_real_logit": float(real_logits.mean()),
            "train/disc_fake_logit": float(fake_logits.mean()),
            "train/gradient_penalty": float(penalty.detach()),
            "train/learning_rate": c.learning_rate * lr_scale,
        }

    def _record_episodes(self, rewards: torch.Tensor) -> None:
        """Each sample is a one-step episode whose return is the discriminator's reward
        ``-log(1 - D)``: feed them to ``rollout/ep_rew_mean`` (not to episodes.csv)."""
        values = rewards[-self.episodes.returns.maxlen :].tolist()
        self.episodes.returns.extend(values)
        self.episodes.lengths.extend([1] * len(values))

    def _step(self, optimizer: torch.optim.Optimizer, net: nn.Module, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(net.parameters(), self.config.max_grad_norm)
        optimizer.step()

    @torch.no_grad()
    def sample_grid(self, n: int = 64) -> np.ndarray:
        """A uint8 grid ``(H, W, 3)`` of ``n`` samples from fixed noise (comparable over time); a
        conditional GAN's grid has one column per class, 8 rows."""
        columns = self.n_classes or 8
        n = 8 * self.n_classes or n
        samples = self.sample(n, torch.Generator(self.device).manual_seed(self.seed))
        space = self.observation_space
        low, high = float(np.min(space.low)), float(np.max(space.high))
        if not np.isfinite([low, high]).all():
            low, high = float(samples.min()), float(samples.max())
        images = (samples - low) / max(high - low, 1e-8)
        if images.dim() != 4:  # not an image: show each sample as one row of pixels
            images = images.reshape(n, 1, 1, -1)
        return image_grid(images, columns=columns)

    def log_samples(self) -> Path | None:
        """Write the sample grid to ``run_dir/samples.png`` and TensorBoard's IMAGES tab."""
        if self.run_dir is None:
            return None
        from PIL import Image

        grid = self.sample_grid()
        path = self.run_dir / "samples.png"
        tmp = path.with_name(".samples.png.tmp")
        Image.fromarray(grid).save(tmp, format="PNG")
        tmp.replace(path)
        if self.writer is not None:
            self.writer.add_image("samples/generated", grid, self.num_timesteps, dataformats="HWC")
        return path

    @torch.no_grad()
    def evaluate(
        self, episodes: int = 10, deterministic: bool = True, seed=None, env=None, on_episode=None, split="test"
    ):
        """The course's GAN evaluation (:func:`gan_metrics`) against a classifier that the
        supervised learner trains for the task. ``mean_reward`` is the negative Fréchet
        distance (a loss is a negative reward); ``episodes``/``deterministic``/``env``/``split``
        are unused (samples are compared with the training split, the held-out splits give the
        floor)."""
        from supervised.datasets import load_task

        reference = load_task(self.task, "train").x
        held_out = np.concatenate([load_task(self.task, s).x for s in HELD_OUT_SPLITS])
        judge = judge_for(self.env_id, self.config.judge_seed)
        rng = torch.Generator(self.device).manual_seed(self.seed if seed is None else seed)
        metrics = gan_metrics(lambda n: self.sample(n, rng).cpu(), judge, reference, held_out, seed or 0)
        if self.n_classes:  # the classes in turn, 100 samples of each
            labels = self.balanced_labels(100 * self.n_classes)
            metrics["condition_agreement"] = condition_agreement(judge, self.sample(len(labels), rng, labels), labels)
        return {"mean_reward": -metrics["frechet_distance"], "std_reward": 0.0, "mean_ep_length": 1.0, **metrics}

    def eval_lines(self, stats: dict[str, float]) -> list[str]:
        """What :meth:`evaluate`'s figures say, one line each with how to read it (``gymlab eval``
        and the end of ``gymlab train``; all figures, per-class fractions included, go to
        TensorBoard as ``test/*`` and to ``gymlab eval --json``)."""
        n_classes = sum(key.startswith("class_fraction_") for key in stats)
        return [
            f"frechet:     {stats['frechet_distance']:.1f} (distance of the samples from the real training digits, in the "
            f"judge's features; real held-out digits: {stats['frechet_floor']:.1f}, uniform noise: "
            f"{stats['frechet_noise']:.1f}; lower is better)",
            f"classes:     {stats['classes_generated']:.0f} of {n_classes} generated, entropy {stats['class_entropy']:.2f} "
            f"nats ({math.log(n_classes):.2f} = all equally common; fewer classes or less entropy = mode collapse)",
            f"confident:   {stats['confident_fraction']:.2f} of the samples classified with probability >= 0.9 (real "
            f"held-out digits: {stats['confident_fraction_real']:.2f}; low = blurry or ambiguous samples)",
            f"judge:       a classifier trained on the task (test accuracy {stats['judge_test_accuracy']:.4f}) "
            "gives these figures",
        ] + (
            [
                f"condition:   {stats['condition_agreement']:.2f} of the samples drawn for a class are classified as "
                "that class (100 per class; 1 = the generator always draws the asked-for digit)"
            ]  # fmt: skip
            if "condition_agreement" in stats
            else []
        )

    def summary_lines(self, metrics: dict[str, float]) -> list[str]:
        """The end of ``gymlab train``: the samples' quality (:meth:`evaluate`, which trains the
        judge classifier first: a few seconds), as :meth:`eval_lines`."""
        return self.eval_lines(self.evaluate())
