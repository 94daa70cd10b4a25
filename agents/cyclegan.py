"""CycleGAN (Zhu et al. 2017): translate between two unpaired domains, e.g. digits and the same
digits in bold (``gymlab/Digits-v0`` with ``target=digits-thick``), with no pair of images
that show one digit in both styles.

Two translators (G: source -> target, F: target -> source), each the GAN learner's
:class:`agents.gan.Generator` reading a flattened image instead of noise, and two
discriminators (:class:`agents.adversarial.Discriminator`, one per domain). Each translator
plays the GAN game against the discriminator of the domain it writes into (the losses of
:mod:`agents.adversarial`); the cycle-consistency loss ``|F(G(a)) - a| + |G(F(b)) - b|``
(L1, weighted by ``cycle_weight``) makes it keep what the image shows, since a translation
that forgot the digit could not be translated back. The cycle alone does not stop a translator
from drawing a 3 as a bold 5 if the way back draws the bold 5 as a 3: the identity loss
``|G(b) - b| + |F(a) - a|`` (``identity_weight``), asking each translator to leave images
already in its output style alone, rules such swaps out (on the digits without it, seed 0 kept
the label of 6% of the images, with it 85%). Neither domain's labels are used.

``evaluate`` judges the translations with two classifiers (:func:`agents.gan_eval.judge_for`),
one trained on each domain: ``kept_to_target`` is the fraction of translated source test
images that the target's classifier reads as their source label (``raw_to_target``: the same
for untranslated images, the level to beat), ``kept_to_source`` the same the other way;
``frechet_to_target`` is the Fréchet distance of the translated images to the real target
images in the target classifier's features (``frechet_raw``: of the untranslated ones).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import gymnasium as gym
import torch

from agents.adversarial import Discriminator, discriminator_accuracy, discriminator_loss, generator_loss
from agents.base import Agent
from agents.config import TrainConfig, positive
from agents.gan import Generator
from agents.gan_eval import feature_statistics, frechet_distance, judge_for
from agents.optim import make_optimizer, set_lr
from envs.single_step import SingleStepEnv, SingleStepVectorEnv
from supervised.registry import get_task, load_task


@dataclass
class CycleGANConfig(TrainConfig):
    """CycleGAN hyperparameters; a "step" is one source image drawn (with as many target images)."""

    total_steps: int = 60_000
    """source images drawn in all"""
    n_envs: int = 1
    """must stay 1: one batched env serves batch_size source images per step"""
    learning_rate: float = 1e-3
    """learning rate of both translators and both discriminators (Adam, betas 0.5 and 0.999)"""
    hidden: list[int] = field(default_factory=lambda: [256])
    """hidden layer sizes of each translator (an mlp over the flattened image)"""
    disc_hidden: list[int] = field(default_factory=lambda: [256])
    """hidden layer sizes of each discriminator"""
    activation: str = "leaky_relu"
    """activation of all four networks"""
    batch_size: int = 64
    """images of each domain per step"""
    target: str = ""
    """the target domain's task, with the source's image shape, e.g. digits-thick"""
    cycle_weight: float = 10.0
    """weight of the cycle-consistency loss (the paper's lambda)"""
    identity_weight: float = 5.0
    """weight of the identity loss |G(b) - b| + |F(a) - a| (the paper's 0.5 x cycle_weight; 0: none, and the
    mlp translators may then swap digits, a swap that the cycle undoes)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        positive(self, "batch_size")
        if self.n_envs != 1:
            raise ValueError(f"cyclegan steps one batched env, so n_envs must be 1 (got {self.n_envs}); set batch_size")
        if not self.target:
            raise ValueError("cyclegan translates into a target domain: --set target=TASK, e.g. target=digits-thick")
        get_task(self.target)
        if self.cycle_weight < 0 or self.identity_weight < 0:
            raise ValueError(
                f"cycle_weight and identity_weight must be >= 0, got {self.cycle_weight} and {self.identity_weight}"
            )


def cycle_loss(original: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """Cycle consistency: the mean absolute difference between an image and its round trip."""
    return (reconstructed - original).abs().mean()


class CycleGAN(Agent):
    """Two translators between unpaired domains, each against the other domain's discriminator."""

    name = "cyclegan"
    plays_one_split = False
    Config = CycleGANConfig
    config: CycleGANConfig
    action_spaces = (gym.spaces.Discrete, gym.spaces.Box)  # it translates the env's inputs; answers nothing

    def build(self) -> None:
        """Translators, discriminators, their two optimizers; the target's train images on the device."""
        from envs import make_env

        probe = make_env(self.env_id, **self.env_kwargs)
        single = probe.unwrapped
        probe.close()
        if not isinstance(single, SingleStepEnv) or self.env_kwargs.get("family") or self.env_kwargs.get("classes"):
            raise ValueError(
                f"cyclegan translates between two whole image tasks; {self.env_id} with these env kwargs is not one"
            )
        self.task, c = single.task, self.config
        source, target = load_task(self.task, "train"), load_task(c.target, "train")
        if source.obs_shape != target.obs_shape:
            raise ValueError(
                f"source {self.task!r} and target {c.target!r} must have the same input shape; got {source.obs_shape} "
                f"and {target.obs_shape}"
            )
        for name, dataset in ((self.task, source), (c.target, target)):
            if len(dataset.obs_shape) != 3 or dataset.kind.name != "classification":
                raise ValueError(
                    f"cyclegan translates between labelled image tasks (it judges the translations by their labels); "
                    f"{name!r} is {dataset.kind} with inputs {dataset.obs_shape}: try target=digits-thick"
                )
        if source.n_classes != target.n_classes:
            raise ValueError(f"source {self.task!r} and target {c.target!r} must have the same classes")
        shape, size = source.obs_shape, math.prod(source.obs_shape)
        low, high = min(source.x_low, target.x_low), max(source.x_high, target.x_high)

        def translator() -> Generator:  # flattened image (B, size) -> image (B, *shape)
            return Generator(size, shape, c.hidden, c.activation, low, high).to(self.device)

        self.to_target, self.to_source = translator(), translator()  # G and F
        self.target_critic = Discriminator(size, c.disc_hidden, c.activation).to(self.device)  # D_target
        self.source_critic = Discriminator(size, c.disc_hidden, c.activation).to(self.device)  # D_source
        translators = itertools.chain(self.to_target.parameters(), self.to_source.parameters())
        critics = itertools.chain(self.target_critic.parameters(), self.source_critic.parameters())
        self.gen_optimizer = self._adam(translators)
        self.disc_optimizer = self._adam(critics)
        self.target_x = torch.from_numpy(target.x.copy()).to(self.device)  # (N_target, *shape), labels unused

    def _adam(self, params) -> torch.optim.Optimizer:
        optimizer = make_optimizer(params, self.config.optimizer, self.config.learning_rate)
        for group in optimizer.param_groups:
            if "betas" in group:
                group["betas"] = (0.5, 0.999)
        return optimizer

    def modules(self):
        """Both translators, both discriminators, both optimizers."""
        return {"to_target": self.to_target, "to_source": self.to_source, "target_critic": self.target_critic,
                "source_critic": self.source_critic, "gen_optimizer": self.gen_optimizer,
                "disc_optimizer": self.disc_optimizer}  # fmt: skip

    def translate(self, images: torch.Tensor, to: str = "target") -> torch.Tensor:
        """Images ``(B, *shape)`` of one domain drawn in the other's style (``to``: target | source)."""
        translator = self.to_target if to == "target" else self.to_source
        return translator(images.flatten(1))

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """The source images translated into the target's style."""
        return self.translate(obs)

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The source's batched train env: it serves the source images (its answers are unused)."""
        self.envs = SingleStepVectorEnv(self.task, self.config.batch_size, "train", "prediction", self.device)
        self.obs, _ = self.envs.reset(seed=self.seed + self.num_timesteps)
        self._no_answer = torch.zeros(self.envs.action_space.shape, device=self.device)

    def train_iteration(self) -> dict[str, float]:
        """One step: the translators' adversarial + cycle (+ identity) loss, then the
        discriminators' loss on real images and the (detached) translations."""
        c = self.config
        set_lr(self.gen_optimizer, self.lr_now())
        set_lr(self.disc_optimizer, self.lr_now())
        a = self.obs.float()  # (B, *shape) source images
        self.env_step(self._no_answer)
        rows = torch.from_numpy(self.rng.integers(0, len(self.target_x), c.batch_size)).to(self.device)
        b = self.target_x[rows]  # (B, *shape) target images, unpaired with a
        fake_b, fake_a = self.translate(a, "target"), self.translate(b, "source")
        adversarial = generator_loss(self.target_critic(fake_b)) + generator_loss(self.source_critic(fake_a))
        cycle = cycle_loss(a, self.translate(fake_b, "source")) + cycle_loss(b, self.translate(fake_a, "target"))
        loss = adversarial + c.cycle_weight * cycle
        if c.identity_weight > 0:
            identity = cycle_loss(b, self.translate(b, "target")) + cycle_loss(a, self.translate(a, "source"))
            loss = loss + c.identity_weight * identity
        self.gen_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.gen_optimizer.step()
        target_real, target_fake = self.target_critic(b), self.target_critic(fake_b.detach())
        source_real, source_fake = self.source_critic(a), self.source_critic(fake_a.detach())
        disc_loss = discriminator_loss(target_real, target_fake) + discriminator_loss(source_real, source_fake)
        self.disc_optimizer.zero_grad(set_to_none=True)
        disc_loss.backward()
        self.disc_optimizer.step()
        real_acc, fake_acc = discriminator_accuracy(target_real.detach(), target_fake.detach())
        return {
            "train/gen_loss": float(adversarial.detach()),
            "train/cycle_loss": float(cycle.detach()),
            "train/disc_loss": float(disc_loss.detach()),
            "train/target_disc_real_acc": real_acc,
            "train/target_disc_fake_acc": fake_acc,
        }

    @torch.no_grad()
    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split: str = "test"
    ) -> dict[str, float]:
        """The translations of ``split`` judged by a classifier of each domain (see the module
        docstring); ``mean_reward`` is ``kept_to_target``."""
        if env is not None:
            return super().evaluate(episodes, deterministic, seed, env, on_episode, split)
        source, target = load_task(self.task, split), load_task(self.config.target, split)
        source_judge = judge_for(get_task(self.task).env_id)
        target_judge = judge_for(get_task(self.config.target).env_id)
        with self.own_process_state():
            a, b = torch.from_numpy(source.x.copy()).to(self.device), torch.from_numpy(target.x.copy()).to(self.device)
            to_target, to_source = self.translate(a, "target").cpu(), self.translate(b, "source").cpu()
            cycle_error = float((self.translate(self.translate(a, "target"), "source") - a).abs().mean())
        raw_features, raw_probs = target_judge(a.cpu())
        translated_features, translated_probs = target_judge(to_target)
        real_stats = feature_statistics(
            target_judge(torch.from_numpy(load_task(self.config.target, "train").x.copy()))[0]
        )
        kept = float((translated_probs.argmax(1) == source.y).mean())
        stats = {
            "kept_to_target": kept,
            "raw_to_target": float((raw_probs.argmax(1) == source.y).mean()),
            "kept_to_source": float((source_judge(to_source)[1].argmax(1) == target.y).mean()),
            "frechet_to_target": frechet_distance(*feature_statistics(translated_features), *real_stats),
            "frechet_raw": frechet_distance(*feature_statistics(raw_features), *real_stats),
            "cycle_error": cycle_error,
        }
        return {"mean_reward": kept, "std_reward": math.sqrt(kept * (1 - kept)), "mean_ep_length": 1.0, **stats}

    def eval_lines(self, stats: dict[str, float], split: str = "test") -> list[str]:
        """``gymlab eval``: how much of the digit the translations keep, and how target-like they look."""
        source, target = self.task, self.config.target
        return [
            f"split:       {split} split of each domain ({source} -> {target} and back)",
            f"kept:        {stats['kept_to_target']:.4f} of the translated {source} images are read as their own label "
            f"by a classifier of {target} ({stats['raw_to_target']:.4f} untranslated); "
            f"{stats['kept_to_source']:.4f} the other way",
            f"frechet:     {stats['frechet_to_target']:.1f} from the translations to real {target} images in that "
            f"classifier's features ({stats['frechet_raw']:.1f} untranslated; lower = more {target}-like)",
            f"cycle:       {stats['cycle_error']:.4f} mean absolute error of a round trip {source} -> {target} -> {source}",
        ]

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """The last step's cycle loss."""
        return {"train/cycle_loss": metrics.get("train/cycle_loss", float("nan"))}

    def summary_lines(self, metrics: dict[str, float]) -> list[str]:
        """The end of ``gymlab train``: the judged translations (:meth:`evaluate`, which trains
        the two judge classifiers first: a few seconds each), as :meth:`eval_lines`."""
        return self.eval_lines(self.evaluate())
