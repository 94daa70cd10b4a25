"""How good are a generator's samples: the GAN evaluation the course uses.

A classifier (the *judge*, trained for the task by the supervised learner) looks at real and
generated inputs. Its penultimate-layer features give the Fréchet distance between the two
(FID's recipe, Heusel et al. 2017, with a task classifier in place of Inception), and its
predictions give the class diversity of the samples (the mode-collapse check). Read top to
bottom: the math (feature statistics, Fréchet distance, class diversity), the judge, the
evaluation that puts them together, and the sample grid the learner logs.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn

from agents.supervised import Supervised

HELD_OUT_SPLITS: tuple[str, ...] = ("val", "test")
"""Real samples the judge classifier never trained on: the Fréchet floor."""


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` of features ``(n, d)``."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet distance between Gaussians: ``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))``.

    ``tr (C1 C2)^(1/2)`` is computed as the sum of square roots of the eigenvalues of the
    symmetric ``C1^(1/2) C2 C1^(1/2)`` (same spectrum), which stays real and stable.
    """
    values, vectors = np.linalg.eigh(cov1)
    sqrt1 = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T  # C1^(1/2)
    cross = np.linalg.eigvalsh(sqrt1 @ cov2 @ sqrt1).clip(min=0)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * np.sqrt(cross).sum())


def class_diversity(probs: np.ndarray, confidence: float = 0.9) -> dict[str, float]:
    """Diversity of samples from a classifier's probabilities ``(n, K)``: the predicted-class
    histogram (``class_fraction_k``), its entropy in nats (ln K = uniform), the number of classes
    predicted at least once, and the fraction predicted with probability >= ``confidence``.
    Flat floats only, so every figure can go to TensorBoard as ``eval/*``."""
    n_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    histogram = np.bincount(predicted, minlength=n_classes) / len(predicted)
    nonzero = histogram[histogram > 0]
    return {
        "class_entropy": float(-(nonzero * np.log(nonzero)).sum()),
        "classes_generated": float((histogram > 0).sum()),
        "confident_fraction": float((probs.max(axis=1) >= confidence).mean()),
        **{f"class_fraction_{k}": float(histogram[k]) for k in range(n_classes)},
    }


class Judge:
    """A trained classifier seen through its penultimate layer: ``judge(x)`` -> (features
    ``(B, d)``, class probabilities ``(B, K)``). The classifier's last layer must be Linear."""

    def __init__(self, classifier: nn.Module, forward):
        self.classifier = classifier.eval()
        self.forward = forward  # raw inputs -> logits
        self.last_linear = [m for m in classifier.modules() if isinstance(m, nn.Linear)][-1]
        self.test_accuracy = float("nan")  # set by judge_for: the classifier's test accuracy

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        features, probs = [], []
        captured: list[torch.Tensor] = []
        hook = self.last_linear.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            for start in range(0, len(x), batch):
                logits = self.forward(x[start : start + batch])
                features.append(captured.pop().flatten(1).cpu().numpy())
                probs.append(torch.softmax(logits.flatten(1), dim=-1).cpu().numpy())
        finally:
            hook.remove()
        return np.concatenate(features), np.concatenate(probs)


JUDGE_CONFIG: dict = {
    "net": "cnn",
    "hidden": [512, 512],
    "learning_rate": 3e-3,
    "lr_schedule": "cosine",
    "epochs": 30,
    "patience": 10,
}
"""The judge classifier: the supervised learner's Digits preset, a small CNN (about 10 s on a
CPU; 99% test accuracy, test NLL 0.01-0.03, and about 97% of real held-out digits classified
with confidence >= 0.9, against 98%, 0.09 and 91% for the 256-128 MLP used before). Its 512
penultimate ReLU units are the features the Fréchet distance compares."""


@functools.cache
def judge_for(env_id: str, seed: int = 0) -> Judge:
    """A classifier for ``env_id``'s task trained by the supervised (pathwise) learner on the
    train split, deterministically from ``seed``; cached for the process (a few seconds).
    ``judge.test_accuracy`` is its accuracy on the test split, printed beside its verdicts."""
    torch_state = torch.get_rng_state()  # training the judge must not shift the caller's RNG
    threads = torch.get_num_threads()
    try:
        with torch.enable_grad():  # callers may be inside no_grad (evaluate is)
            learner = Supervised(env_id, Supervised.Config(**JUDGE_CONFIG), seed=seed, device="cpu")
            learner.learn()
            learner.close()
            test_accuracy = float(learner.evaluate()["accuracy"])
    finally:
        torch.set_rng_state(torch_state)
        torch.set_num_threads(threads)
    judge = Judge(learner.model, learner.model)
    judge.test_accuracy = test_accuracy
    return judge


def gan_metrics(
    sample, judge: Judge, reference: np.ndarray, held_out: np.ndarray, seed: int = 0, confidence: float = 0.9
) -> dict[str, float]:
    """The course's GAN evaluation. ``sample(n)`` returns ``n`` generated inputs as a tensor;
    ``reference`` are the real training inputs, ``held_out`` real inputs nobody trained on.

    Fréchet distances to the reference features, each from ``len(held_out)`` samples so the
    three share one finite-sample bias: generated (``frechet_distance``), real held-out
    (``frechet_floor``) and uniform noise in the data's range (``frechet_noise``). Diversity:
    :func:`class_diversity` of the generated samples. For the judge's scale: the confident
    fraction of the real held-out inputs (``confident_fraction_real``) and the judge's own test
    accuracy (``judge_test_accuracy``).
    """
    n = len(held_out)
    rng = np.random.default_rng(seed)
    reference_stats = feature_statistics(judge(torch.tensor(reference))[0])
    generated_features, generated_probs = judge(sample(n))
    low, high = float(reference.min()), float(reference.max())
    noise = rng.uniform(low, high, size=held_out.shape).astype(np.float32)
    metrics: dict[str, float] = {}
    for key, features in (
        ("frechet_distance", generated_features),
        ("frechet_floor", judge(torch.tensor(held_out))[0]),
        ("frechet_noise", judge(torch.from_numpy(noise))[0]),
    ):
        metrics[key] = frechet_distance(*feature_statistics(features), *reference_stats)
    metrics["frechet_ratio"] = metrics["frechet_distance"] / max(metrics["frechet_floor"], 1e-12)
    metrics.update(class_diversity(generated_probs, confidence))
    held_out_probs = judge(torch.tensor(held_out))[1]
    metrics["confident_fraction_real"] = class_diversity(held_out_probs, confidence)["confident_fraction"]
    metrics["judge_test_accuracy"] = judge.test_accuracy
    return metrics


def condition_agreement(judge: Judge, samples: torch.Tensor, labels: torch.Tensor) -> float:
    """A conditional generator's figure: the fraction of ``samples`` ``(n, ...)`` that the judge
    classifies as the class ``labels`` ``(n,)`` they were drawn for."""
    _, probs = judge(samples.cpu())
    return float((probs.argmax(axis=1) == labels.cpu().numpy()).mean())


def image_grid(images: torch.Tensor, columns: int = 8, scale: int = 4, pad: int = 1) -> np.ndarray:
    """Images ``(B, C, H, W)`` in [0, 1] -> one uint8 grid ``(rows*(H*scale+pad)+pad, ..., 3)``."""
    images = images.detach().float().clamp(0, 1).cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    images = images.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)  # (B, 3, H', W')
    b, c, h, w = images.shape
    rows = math.ceil(b / columns)
    grid = torch.full((c, rows * (h + pad) + pad, columns * (w + pad) + pad), 0.5)
    for i in range(b):
        row, col = divmod(i, columns)
        top, left = pad + row * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = images[i]
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
