"""Semi-supervised learning by pseudo-labelling (HW3's "semi-supervised learning"; Lee 2013).

With only a few labelled examples, the model's own confident predictions on the unlabelled ones
serve as labels: after ``warmup_epochs`` passes over the labelled examples, every step also draws
a batch of unlabelled inputs, labels each with the model's argmax where the softmax's top
probability is at least ``threshold``, and adds ``pseudo_weight`` x the loss on those labels
(:func:`pseudo_label_loss`). The labelled examples are a ``labelled`` task variant
(``--env-kwargs family=labelled fraction=0.05``); the unlabelled ones are the rest of the train
split, inputs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.supervised import Supervised, SupervisedConfig
from supervised.families import TaskVariant, build_family


@dataclass
class PseudoLabelConfig(SupervisedConfig):
    """The supervised learner's hyperparameters, plus pseudo-labelling's."""

    threshold: float = 0.95
    """an unlabelled input gets a pseudo-label when the model's top probability is at least this"""
    pseudo_weight: float = 1.0
    """weight of the pseudo-labelled loss beside the labelled one"""
    warmup_epochs: int = 5
    """passes over the labelled examples before pseudo-labels are used"""
    unlabelled_batch_size: int = 128
    """unlabelled inputs drawn per step"""
    shift: int = 1
    """images: the model learns a pseudo-label on its input shifted by up to this many pixels
    (labelled unshifted), so a label teaches more than the model already knew (FixMatch's idea)"""

    def check(self) -> None:
        """The supervised checks, plus pseudo-labelling's."""
        super().check()
        if not 0.0 < self.threshold <= 1.0 or self.pseudo_weight < 0 or self.warmup_epochs < 0:
            raise ValueError(
                f"threshold must be in (0, 1], pseudo_weight and warmup_epochs >= 0; got {self.threshold}, "
                f"{self.pseudo_weight} and {self.warmup_epochs}"
            )
        if self.shift < 0:
            raise ValueError(f"shift must be >= 0 pixels, got {self.shift}")
        if self.unlabelled_batch_size < 1:
            raise ValueError(f"unlabelled_batch_size must be >= 1, got {self.unlabelled_batch_size}")


def pseudo_label_loss(
    label_logits: torch.Tensor, logits: torch.Tensor, threshold: float, loss_fn
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of ``logits`` (B, C) at the labels ``label_logits`` (B, C) give (their argmax, no
    gradient) where those are confident (top probability >= threshold), summed over the confident
    ones and divided by B; and the (B,) mask of confident ones. ``label_logits`` and ``logits``
    are the model's on the same inputs (plain pseudo-labelling) or on two views of them."""
    with torch.no_grad():
        confidence, labels = torch.softmax(label_logits, dim=-1).max(dim=-1)  # (B,), (B,)
        confident = (confidence >= threshold).float()
    return (loss_fn(logits, labels) * confident).sum() / len(logits), confident


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image (B, C, H, W) moved by a random whole number of pixels in [-max_shift, max_shift]
    along each axis, zeros filling in."""
    if max_shift == 0:
        return images
    padded = torch.nn.functional.pad(images, [max_shift] * 4)  # (B, C, H + 2s, W + 2s)
    height, width = images.shape[-2:]
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    return torch.stack([padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets.tolist())])


class PseudoLabel(Supervised):
    """The supervised learner on a few labels, plus the loss on confident pseudo-labels."""

    name = "pseudo-label"
    Config = PseudoLabelConfig
    config: PseudoLabelConfig

    def build(self) -> None:
        """The supervised learner, and the unlabelled inputs of its ``labelled`` task variant."""
        super().build()
        variant = build_family(self.task, self.task_kwargs.get("family"), {
            k: v for k, v in self.task_kwargs.items() if k != "family"})  # fmt: skip
        if not (isinstance(variant, TaskVariant) and variant.name == "labelled"):
            raise ValueError(
                "pseudo-label learns from a few labels and the rest unlabelled: pass the env kwargs "
                "family=labelled and n_labels=N or fraction=F"
            )
        if self.train_set.kind.name != "classification":
            raise ValueError(f"pseudo-label needs a classification task; {self.task!r} is {self.train_set.kind}")
        self.unlabelled = torch.from_numpy(variant.unlabelled_x().copy()).to(self.device)  # (N_u, *obs_shape)
        self.pseudo_fraction = 0.0  # confident share of the last unlabelled batch

    def auxiliary_loss(self) -> torch.Tensor | float:
        """After the warm-up, the pseudo-labelled loss on a random batch of unlabelled inputs."""
        c = self.config
        if self.epoch < c.warmup_epochs or c.pseudo_weight == 0:
            return 0.0
        rows = torch.from_numpy(self.rng.integers(0, len(self.unlabelled), c.unlabelled_batch_size)).to(self.device)
        inputs = self.unlabelled[rows]  # (B, *obs_shape)
        with torch.no_grad():
            label_logits = self.model(inputs)
        view = random_shift(inputs, c.shift) if inputs.dim() == 4 else inputs  # images only
        loss, confident = pseudo_label_loss(label_logits, self.model(view), c.threshold, self.train_set.kind.loss)
        self.pseudo_fraction = float(confident.mean())
        return c.pseudo_weight * loss

    def train_iteration(self) -> dict[str, float]:
        """The supervised iteration, reporting the share of unlabelled inputs pseudo-labelled."""
        metrics = super().train_iteration()
        metrics["train/pseudo_labelled"] = self.pseudo_fraction
        return metrics
