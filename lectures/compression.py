"""Lecture: network compression (HW13), on digits.

Claim: a trained network can be made much smaller at little cost. A 910-parameter student that
sees 60 labels plus a teacher's soft labels on the rest of the train split beats the same student
trained on the 60 labels alone by >= 20 points; 90% magnitude pruning plus fine-tuning stays within
1 point of the teacher, 8-bit quantisation and 16-cluster weight sharing within 0.5 point, while 2
bits lose >= 10 points; a depthwise-separable 32 -> 64 3x3 convolution has >= 7x fewer parameters
than a full one.

Arms (every trained model is a run directory, through agents.Supervised, agents.Distill and
agents.compression.compress_run, the code behind ``gymlab train`` and ``gymlab compress``):

- ``teacher``: an MLP (64 -> 256 -> 256 -> 10) trained on the whole train split;
- ``pruned 90% + fine-tune``: the teacher with the 90% smallest weights removed (one global
  magnitude threshold), fine-tuned with the pruned weights held at 0;
- ``8-bit``, ``2-bit``: the teacher's weights quantised (symmetric, per tensor), no fine-tuning;
- ``16 clusters``: the teacher's weights shared through a 16-entry k-means codebook per tensor;
- ``student alone``: a 64 -> 12 -> 10 MLP (910 parameters) trained on the first 60 labelled
  examples of the train split (agents.Distill with alpha = 0: the teacher's outputs weigh nothing);
- ``student distilled``: the same student, the same 60 labels, plus the teacher's soft outputs
  (temperature 4, alpha 0.9) on every train example;
- ``conv 32->64 3x3`` and ``separable 32->64 3x3``: one layer each (agents.networks), counted.

Figures: test ``accuracy`` (the test split, 269 examples), ``bytes`` (the compressed
representation, agents.compression.compressed_bits: kept values at their bits, codebooks, a bitmap
or index list for pruned tensors, biases at 32 bits), ``params`` and ``latency_us``: the median CPU
time of one forward pass on one example, one thread. The compressed weights are stored decoded as
float32, so pruning and quantisation shrink the bytes, not this latency; fewer parameters do.
Panels: test accuracy of the teacher against the bits per weight (quantised, clustered), and
against the fraction pruned without fine-tuning.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.compression import (
    compress_run,
    model_bytes,
    parameter_count,
    project,
    prune_masks,
)
from agents.distillation import Distill
from agents.networks import SeparableConv2d
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task

ENV_ID = "gymlab/Digits-v0"
TEACHER = {"net": "mlp", "hidden": [256, 256], "learning_rate": 3e-3, "lr_schedule": "cosine"}
STUDENT = {"net": "mlp", "hidden": [12], "learning_rate": 3e-3, "lr_schedule": "cosine", "labels": 60}
DISTILLED = {"alpha": 0.9, "temperature": 4.0}
ALONE = {"alpha": 0.0}
TRAIN_EXAMPLES = 1258
COMPRESSED = {
    "pruned 90% + fine-tune": {"prune": 0.9},
    "8-bit": {"bits": 8},
    "16 clusters": {"clusters": 16},
    "2-bit": {"bits": 2},
}
BITS_CURVE = (2, 3, 4, 5, 6, 8)
MAX_CLUSTER_BITS = 5
"""the clustered curve stops at 32 centroids (k-means over 65,536 weights costs k times more)"""
PRUNE_CURVE = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)


def latency_us(model: nn.Module, example: torch.Tensor, repeats: int = 200) -> float:
    """Median wall time of ``model(example)`` in microseconds, one CPU thread, no autograd."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            model(example)
            times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return float(np.median(times) * 1e6)


@torch.no_grad()
def accuracy_on_test(model: nn.Module) -> float:
    """Accuracy of ``model``'s argmax on the digits test split."""
    test = load_task("digits", "test")
    logits = model(torch.as_tensor(np.array(test.x)))  # (N, 10)
    return float((logits.argmax(-1).numpy() == test.y).mean())


def compression_curves(model: nn.Module) -> tuple[dict, dict]:
    """Test accuracy of ``model`` compressed in memory, without fine-tuning: against the bits per
    stored weight (quantised; clustered, log2 of the codebook size) and the fraction pruned."""
    original = {k: v.clone() for k, v in model.state_dict().items()}
    dense = prune_masks(model, 0.0)
    bits_curves: dict[str, tuple[list, list]] = {"quantised": ([], []), "clustered": ([], [])}
    for bits in BITS_CURVE:
        for label, settings in (("quantised", {"bits": bits}), ("clustered", {"clusters": 2**bits})):
            if label == "clustered" and bits > MAX_CLUSTER_BITS:
                continue
            project(model, dense, **settings)
            bits_curves[label][0].append(bits)
            bits_curves[label][1].append(accuracy_on_test(model))
            model.load_state_dict(original)
    pruned = ([], [])
    for amount in PRUNE_CURVE:
        project(model, prune_masks(model, amount))
        pruned[0].append(amount)
        pruned[1].append(accuracy_on_test(model))
        model.load_state_dict(original)
    return bits_curves, {"no fine-tuning": pruned}


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: the teacher, its compressed versions, both students, and the two conv layers."""
    epochs = 12 if quick else 30
    example = torch.as_tensor(np.array(load_task("digits", "test").x[:1]))  # (1, 1, 8, 8)
    figures, runs = {}, []

    def report(arm: str, agent, run_dir: Path, size: int) -> None:
        figures[arm] = {"accuracy": agent.evaluate()["accuracy"], "bytes": size,
                        "params": parameter_count(agent.model), "latency_us": latency_us(agent.model, example)}  # fmt: skip
        runs.append(str(run_dir))

    teacher_dir = out / "teacher"
    teacher = Supervised(ENV_ID, seed=seed, epochs=epochs, **TEACHER).learn(run_dir=teacher_dir)
    report("teacher", teacher, teacher_dir, model_bytes(teacher.model))
    for arm, settings in COMPRESSED.items():
        finetune = (epochs if quick else 15) * TRAIN_EXAMPLES if "prune" in settings else 0
        run_dir = out / arm.replace(" ", "-").replace("%", "").replace("+", "and")
        compressed = compress_run(teacher_dir, run_dir, finetune=finetune, **settings)
        report(arm, compressed, run_dir, compressed.size_bytes())
    for arm, settings in (("student alone", ALONE), ("student distilled", DISTILLED)):
        run_dir = out / arm.replace(" ", "-")
        student = Distill(ENV_ID, seed=seed, teacher=str(teacher_dir), epochs=3 * epochs, **STUDENT, **settings)
        student.learn(run_dir=run_dir)
        report(arm, student, run_dir, model_bytes(student.model))
    torch.manual_seed(seed)
    feature_map = torch.randn(1, 32, 8, 8)
    for arm, layer in (("conv 32->64 3x3", nn.Conv2d(32, 64, 3, padding=1)),
                       ("separable 32->64 3x3", SeparableConv2d(32, 64, 3, padding=1))):  # fmt: skip
        figures[arm] = {"bytes": model_bytes(layer), "params": parameter_count(layer),
                        "latency_us": latency_us(layer, feature_map)}  # fmt: skip
    bits_curves, prune_curves = compression_curves(teacher.model)
    panels = [
        Panel("teacher quantised / clustered, no fine-tuning", bits_curves, "bits per weight", "test accuracy"),
        Panel("teacher pruned by magnitude, no fine-tuning", prune_curves, "fraction pruned", "test accuracy"),
    ]
    return Trial(figures, panels, runs)


def condition(table: Table) -> bool:
    """Means over seeds: distilled - alone >= 0.20; teacher - pruned <= 0.01; teacher - 8-bit and
    teacher - 16 clusters <= 0.005; teacher - 2-bit >= 0.10; conv params >= 7 x separable's."""

    def accuracy(arm: str) -> float:
        return table.mean(arm, "accuracy")

    teacher = accuracy("teacher")
    return (
        accuracy("student distilled") - accuracy("student alone") >= 0.20
        and teacher - accuracy("pruned 90% + fine-tune") <= 0.01
        and teacher - accuracy("8-bit") <= 0.005
        and teacher - accuracy("16 clusters") <= 0.005
        and teacher - accuracy("2-bit") >= 0.10
        and table.mean("conv 32->64 3x3", "params") >= 7 * table.mean("separable 32->64 3x3", "params")
    )


LECTURE = register(
    Lecture(
        name="compression",
        homework="HW13: network compression (distillation, pruning, quantisation, weight sharing, separable conv)",
        claim="A 910-parameter student taught by a teacher's soft labels (60 hard labels) beats it alone by >= 20 "
        "points; 90% pruning + fine-tuning costs <= 1 point, 8 bits and 16 clusters <= 0.5, 2 bits >= 10; "
        "a separable 3x3 conv has >= 7x fewer parameters.",
        arms=("teacher", *COMPRESSED, "student alone", "student distilled", "conv 32->64 3x3", "separable 32->64 3x3"),
        experiment=experiment,
        condition=condition,
        condition_text="mean test accuracy: distilled - alone >= 0.20; teacher - pruned 90% + fine-tune <= 0.01; "
        "teacher - 8-bit <= 0.005 and teacher - 16 clusters <= 0.005; teacher - 2-bit >= 0.10; "
        "params of a 32->64 3x3 conv >= 7 x its depthwise-separable twin's",
    )
)
