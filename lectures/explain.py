"""Lecture: explainable AI (HW9), which inputs a digits CNN's decision rests on.

Claim: attribution maps computed by autograd (:mod:`supervised.attributions`) say something true
about the network. Integrated gradients add up to f(x) - f(baseline); the pixels they mark matter
(zeroing the top 10% costs far more accuracy than zeroing a random 10%); SmoothGrad maps are
smoother than plain gradients; a linear probe reads the class better from deeper layers; and
gradient maps depend on the weights (a randomised network's differ from the trained one's:
Adebayo et al. 2018's sanity check). Integrated gradients fail that check here, as Adebayo et al.
found for gradient-times-input methods: x times any gradient still looks like x.

Arms (rows of the table):

- ``trained CNN``: the digits CNN (a gymlab supervised run), test accuracy;
- ``saliency``, ``smoothgrad``, ``ig``: each method on the test split: accuracy after zeroing
  each image's top 10% pixels by the method's |map|, the map's total variation, and the rank
  correlation between the trained network's maps and a randomised copy's; ``ig`` also the
  completeness error |sum(attributions) - (f(x) - f(0))| / |f(x) - f(0)| (mean over the test
  split; the baseline is a blank image);
- ``random 10%``: accuracy after zeroing a random 10% of each image's pixels;
- ``probe: input`` .. ``probe: dense``: a logistic regression (a linear layer, full-batch Adam on
  standardised features) fitted on the train split's features at each depth, scored on the test
  split.

Experiment, per seed: train the CNN (``Supervised("gymlab/Digits-v0")``), then explain its
test-split predictions (the first 128 with ``--quick``); f is the logit of the class the network
predicts.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from agents import Supervised
from agents.optim import make_optimizer
from lectures.runner import Lecture, Panel, Table, Trial, heatmap, register
from supervised import load_task
from supervised.attributions import attribute, integrated_gradients, top_fraction_mask, total_variation
from supervised.kinds import cross_entropy_loss

ZEROED = 0.1
"""fraction of each image's pixels zeroed in the deletion test"""
ZEROED_CURVE = (0.0, 0.05, 0.1, 0.2, 0.3)
METHODS = ("saliency", "smoothgrad", "ig")
IG_STEPS = 64
QUICK_IG_STEPS = 32
QUICK_EXAMPLES = 128
"""test examples explained with --quick (all of the test split otherwise)"""
SMOOTHGRAD_NOISE = 0.3
"""SmoothGrad's noise, in pixel units (pixels in [0, 1])"""
SHOWN = 6
"""test digits drawn in the PNG"""


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` (N, 1, 8, 8) the model labels ``y`` (N,)."""
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


def zero_pixels(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` with the pixels where ``mask`` is True set to 0 (the digits' blank background)."""
    return x.masked_fill(mask, 0.0)


def random_mask(x: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """True at a random ``fraction`` of each example's values: (N, ...) bool."""
    return top_fraction_mask(torch.rand(x.shape, generator=generator), fraction)


def completeness_error(model: nn.Module, x: torch.Tensor, attributions: torch.Tensor) -> torch.Tensor:
    """|sum(attributions) - (f(x) - f(0))| / |f(x) - f(0)| per example, f the predicted class's logit: (N,)."""
    with torch.no_grad():
        target = model(x).argmax(-1, keepdim=True)  # (N, 1)
        gap = (model(x) - model(torch.zeros_like(x))).gather(1, target)[:, 0]  # (N,)
    return (attributions.flatten(1).sum(1) - gap).abs() / gap.abs().clamp_min(1e-8)


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (the model-randomisation test)."""
    copy_ = copy.deepcopy(model)
    torch.manual_seed(10_000 + seed)
    for module in copy_.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return copy_


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over examples of Spearman's rank correlation between |a| and |b| (N, ...)."""
    values = [spearmanr(p, q).statistic for p, q in zip(a.abs().flatten(1).numpy(), b.abs().flatten(1).numpy())]
    return float(np.nanmean(values))


def layer_features(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Features at each depth of the digits CNN (:class:`agents.networks.CNN` body): the input,
    the output of each convolution's activation (after the pooling when one follows), and the
    dense features. (N, D) each."""
    features = {"input": x.flatten(1)}
    h, n_conv = x, 0
    with torch.no_grad():
        for layer in model.body.convs:
            h = layer(h)
            if isinstance(layer, nn.Conv2d):
                n_conv += 1
            elif not isinstance(layer, nn.Flatten):  # after an activation; a pooling replaces it
                features[f"conv{n_conv}"] = h.flatten(1)
        features["dense"] = model.body.head(h)
    return features


def linear_probe(train_features, y_train, test_features, y_test, steps: int) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features, fitted by
    full-batch Adam (``steps`` steps) on the train split's features: (N, D) and (N,) each."""
    mean, std = train_features.mean(0), train_features.std(0) + 1e-6
    train_features, test_features = (train_features - mean) / std, (test_features - mean) / std
    probe = nn.Linear(train_features.shape[1], int(y_train.max()) + 1)
    optimizer = make_optimizer(probe.parameters(), "adam", 0.01, weight_decay=1e-4)
    for _ in range(steps):
        loss = cross_entropy_loss(probe(train_features), y_train).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return accuracy(probe, test_features, y_test)


def probe_accuracies(model: nn.Module, x_train, y_train, x_test, y_test, quick: bool) -> dict[str, float]:
    """Test accuracy of a linear probe fitted to the train split's features, per layer."""
    train, test = layer_features(model, x_train), layer_features(model, x_test)
    return {name: linear_probe(train[name], y_train, test[name], y_test, 100 if quick else 300) for name in train}


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: train the CNN, then every attribution test on the test split."""
    torch.set_num_threads(1)
    agent = Supervised("gymlab/Digits-v0", seed=seed, **({"epochs": 10} if quick else {}))
    run = out / "cnn"
    agent.learn(run_dir=run)
    model = agent.model.eval()
    train, test = load_task("digits", "train"), load_task("digits", "test")
    n = QUICK_EXAMPLES if quick else len(test)
    x, y = torch.tensor(test.x)[:n], torch.tensor(test.y)[:n]  # (n, 1, 8, 8), (n,)
    generator = torch.Generator().manual_seed(seed)
    clean = accuracy(model, x, y)
    figures: dict[str, dict[str, float]] = {"trained CNN": {"accuracy": clean}}
    smoothing = {"samples": 16 if quick else 50, "noise": SMOOTHGRAD_NOISE, "generator": generator}
    steps = QUICK_IG_STEPS if quick else IG_STEPS
    maps = {
        "saliency": attribute("saliency", model, x),
        "smoothgrad": attribute("smoothgrad", model, x, **smoothing),
        "ig": integrated_gradients(model, x, steps=steps),
    }
    shuffled = randomised(model, seed)
    random_maps = {
        "saliency": attribute("saliency", shuffled, x),
        "smoothgrad": attribute("smoothgrad", shuffled, x, **smoothing),
        "ig": integrated_gradients(shuffled, x, steps=steps),
    }
    curves = {}
    for method, m in maps.items():
        figures[method] = {
            "acc_zeroed": accuracy(model, zero_pixels(x, top_fraction_mask(m, ZEROED)), y),
            "tv": float(total_variation(m).mean()),
            "rank_corr_random": rank_correlation(m, random_maps[method]),
        }
        curves[method] = [accuracy(model, zero_pixels(x, top_fraction_mask(m, f)), y) if f else clean
                          for f in ZEROED_CURVE]  # fmt: skip
    errors = completeness_error(model, x, maps["ig"])
    figures["ig"]["sum_error"] = float(errors.mean())
    figures["ig"]["sum_error_max"] = float(errors.max())
    figures["random 10%"] = {"acc_zeroed": accuracy(model, zero_pixels(x, random_mask(x, ZEROED, generator)), y)}
    curves["random"] = [accuracy(model, zero_pixels(x, random_mask(x, f, generator)), y) if f else clean
                        for f in ZEROED_CURVE]  # fmt: skip
    probes = probe_accuracies(model, torch.tensor(train.x), torch.tensor(train.y), x, y, quick)
    for layer, score in probes.items():
        figures[f"probe: {layer}"] = {"probe_acc": score}

    images = []
    for i in range(SHOWN):
        images.append((f"digit {int(y[i])}", x[i, 0].numpy()))
        for method in METHODS:
            images.append((method, heatmap(maps[method][i, 0].numpy())))
        images.append(("saliency, random net", heatmap(random_maps["saliency"][i, 0].numpy())))
    panels = [
        Panel("test digits: |attribution| of the predicted logit", images=images, image_columns=5),
        Panel(
            "deletion: zero each image's top pixels",
            {k: (list(ZEROED_CURVE), v) for k, v in curves.items()},
            "fraction of pixels zeroed",
            "test accuracy",
        ),  # fmt: skip
        Panel(
            "linear probe per layer",
            {"probe": (list(range(len(probes))), list(probes.values()))},
            "depth (" + ", ".join(probes) + ")",
            "test accuracy",
        ),  # fmt: skip
    ]
    return Trial(figures, panels, runs=[str(run)])


PROBE_ARMS = ("probe: input", "probe: conv1", "probe: conv2", "probe: dense")


def condition(table: Table) -> bool:
    """Means over seeds: IG's completeness error <= 1%; zeroing IG's top 10% costs >= 10 points
    more than a random 10%; SmoothGrad's total variation < saliency's; the probe's accuracy rises
    from the input to the dense layer and never falls by more than a point from one layer to the
    next; saliency's and SmoothGrad's rank correlation with the randomised network's maps < 0.5
    (IG's is reported: x times a gradient stays close to x whatever the weights)."""
    probes = [table.mean(arm, "probe_acc") for arm in PROBE_ARMS]
    return (
        table.mean("ig", "sum_error") <= 0.01
        and table.mean("random 10%", "acc_zeroed") - table.mean("ig", "acc_zeroed") >= 0.10
        and table.mean("smoothgrad", "tv") < table.mean("saliency", "tv")
        and probes[-1] > probes[0]
        and all(later >= earlier - 0.01 for earlier, later in zip(probes, probes[1:]))
        and all(table.mean(method, "rank_corr_random") < 0.5 for method in ("saliency", "smoothgrad"))
    )


LECTURE = register(
    Lecture(
        name="explain",
        homework="HW9: explainable AI (saliency, SmoothGrad, integrated gradients, probing)",
        claim="Attributions of a digits CNN are faithful: IG sums to f(x) - f(0), its top 10% pixels matter >= 10 "
        "points more than random ones, SmoothGrad is smoother than saliency, linear probes improve with depth, and "
        "a randomised network's gradient maps differ from the trained one's.",
        arms=("trained CNN", *METHODS, "random 10%", *PROBE_ARMS),
        experiment=experiment,
        condition=condition,
        condition_text="means: IG completeness error <= 0.01; acc(random 10% zeroed) - acc(IG top 10% zeroed) "
        ">= 0.10; TV smoothgrad < TV saliency; probe dense > probe input, no layer > 1 point below the one before; "
        "rank correlation with the randomised network's maps < 0.5 for saliency and smoothgrad (IG's reported)",
    )
)
