"""Tests for the task variants (few labels, masked-token pre-training) and the reverse task."""

import numpy as np
import pytest
import torch

from envs.single_step import SingleStepEnv, fixed_dataset
from supervised.datasets import load_task
from supervised.families import MASK, labelled, mask_tokens, masked, one_hot_or_mask
from supervised.kinds import IGNORE, get_kind
from supervised.tasks import EOS, PAD, reverse_targets


def test_reverse_targets_known_answer():
    tokens = np.array([[3, 4, 5, PAD], [7, PAD, PAD, PAD]])
    assert reverse_targets(tokens).tolist() == [[5, 4, 3, EOS, PAD], [7, EOS, PAD, PAD, PAD]]


def test_reverse_task_has_variable_lengths_and_its_outputs_reverse_its_inputs():
    data = load_task("reverse", "train")
    tokens = data.x.argmax(axis=-1)  # (N, 8)
    lengths = (tokens != PAD).sum(axis=1)
    assert lengths.min() == 1 and lengths.max() == 8
    np.testing.assert_array_equal(data.y, reverse_targets(tokens))
    assert data.prediction_shape == (9, 10)


def test_mask_tokens_corrupts_at_berts_rates():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=(2000, 50))
    corrupted, chosen = mask_tokens(tokens, rng, 0.15, 50)
    assert chosen.mean() == pytest.approx(0.15, abs=0.005)
    assert (corrupted[chosen] == MASK).mean() == pytest.approx(0.8, abs=0.01)
    replaced = (corrupted[chosen] != MASK) & (corrupted[chosen] != tokens[chosen])
    assert replaced.mean() == pytest.approx(0.1 * 49 / 50, abs=0.01)  # a random token may be the same one
    np.testing.assert_array_equal(corrupted[~chosen], tokens[~chosen])  # positions not chosen are untouched


def test_one_hot_or_mask_gives_the_mask_a_row_of_zeros():
    x = one_hot_or_mask(np.array([[1, MASK]]), 3)
    assert x.tolist() == [[[0, 1, 0], [0, 0, 0]]]


def test_masked_variant_targets_the_original_tokens():
    data = fixed_dataset("topics", "train", family="masked", mask_rate=0.3, copies=2)
    original = load_task("topics", "train")
    assert len(data) == 2 * len(original) and data.n_classes == original.obs_shape[-1]
    scored = data.y != IGNORE  # (N, T) positions chosen for corruption
    assert data.kind.name == "masked-tokens" and scored.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(data.y[: len(original)][scored[: len(original)]],
                                  original.x.argmax(-1)[scored[: len(original)]])  # fmt: skip
    hidden = data.x.sum(axis=-1) == 0  # (N, T) masked positions
    assert hidden.mean() == pytest.approx(0.3 * 0.8, abs=0.01) and not (hidden & ~scored).any()


def test_masked_tokens_kind_scores_only_the_chosen_positions():
    kind = get_kind("masked-tokens")
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))  # (1, T=2, 2)
    target = torch.tensor([[IGNORE, 1]])
    assert kind.loss(logits, target).item() == pytest.approx(-np.log(0.1), rel=1e-5)
    assert kind.score(logits, target).item() == 0.0
    assert kind.loss(logits, torch.tensor([[IGNORE, IGNORE]])).item() == 0.0
    with pytest.raises(ValueError, match="one-hot token sequences"):
        masked("digits")


def test_labelled_variant_keeps_few_train_labels_and_whole_val_and_test():
    few = fixed_dataset("digits", "train", family="labelled", fraction=0.05)
    n_train = len(load_task("digits", "train"))
    assert len(few) == round(0.05 * n_train)
    assert len(fixed_dataset("digits", "test", family="labelled", fraction=0.05)) == len(load_task("digits", "test"))
    variant = labelled("digits", fraction=0.05)
    assert len(variant.unlabelled_x()) == n_train - len(few)
    env = SingleStepEnv("topics", family="labelled", n_labels=100)
    assert len(env.dataset) == 100
    with pytest.raises(ValueError, match="one of them"):
        labelled("digits", n_labels=10, fraction=0.1)
