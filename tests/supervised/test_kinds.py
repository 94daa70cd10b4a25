"""Tests for supervised.kinds: each kind's loss, metric, spaces and checks, by known answers."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from supervised.kinds import KINDS, get_kind


def test_every_kind_is_reachable_by_name_and_unknown_names_list_them():
    assert list(KINDS) == ["classification", "regression", "reconstruction", "sequence", "seq2seq", "masked-tokens"]
    assert get_kind(KINDS["regression"]) is KINDS["regression"]
    with pytest.raises(ValueError, match="unknown kind 'ranking'; known: classification, regression, reconstruction"):
        get_kind("ranking")


def test_losses_and_metrics_known_answers():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))  # softmax gives these back
    labels = torch.tensor([0, 0])
    classification = KINDS["classification"]
    torch.testing.assert_close(classification.loss(logits, labels), torch.tensor([math.log(2), -math.log(0.1)]))
    torch.testing.assert_close(classification.reward(logits, labels), -classification.loss(logits, labels))
    torch.testing.assert_close(classification.score(logits, labels), torch.tensor([1.0, 0.0]))  # argmax 0, then 2

    regression = KINDS["regression"]
    prediction, target = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    torch.testing.assert_close(regression.loss(prediction, target), torch.tensor([2.5, 5.0]))
    torch.testing.assert_close(regression.score(prediction, target), torch.tensor([2.5, 5.0]))  # mse

    reconstruction = KINDS["reconstruction"]  # every value of an image counts
    image = torch.zeros(2, 1, 2, 2)
    torch.testing.assert_close(reconstruction.loss(image + 1.0, image), torch.tensor([1.0, 1.0]))

    sequence = KINDS["sequence"]  # per position, averaged: positions 0 and 1 right, 2 wrong
    seq_logits = torch.log(torch.tensor([[[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]]]))  # (B=1, T=3, C=2)
    seq_target = torch.tensor([[0, 1, 1]])
    expected = torch.tensor([(math.log(2) - math.log(0.8) - math.log(0.1)) / 3])
    torch.testing.assert_close(sequence.loss(seq_logits, seq_target), expected)
    torch.testing.assert_close(sequence.score(seq_logits, seq_target), torch.tensor([2 / 3]))
    torch.testing.assert_close(KINDS["seq2seq"].loss(seq_logits, seq_target), expected)


def test_gradient_of_the_reward_is_the_analytic_one():
    logits = torch.tensor([[1.0, -0.5, 0.25]], requires_grad=True)
    (-KINDS["classification"].reward(logits, torch.tensor([2]))).sum().backward()
    expected = torch.softmax(logits.detach(), -1) - torch.tensor([[0.0, 0.0, 1.0]])  # softmax - one_hot
    torch.testing.assert_close(logits.grad, expected)


def test_each_kind_owns_its_prediction_shape_and_label_space():
    c, r, rec, seq, s2s, _ = (KINDS[k] for k in KINDS)
    assert c.prediction_shape((1, 8, 8), (), 10) == (10,) and c.label_space((), 10) == spaces.Discrete(10)
    assert r.prediction_shape((10,), (), 0) == (1,) and r.prediction_shape((10,), (3,), 0) == (3,)
    assert r.label_space((), 0) is None and rec.label_space((1, 8, 8), 0) is None
    assert rec.prediction_shape((1, 8, 8), (1, 8, 8), 0) == (1, 8, 8)
    assert seq.prediction_shape((16, 8), (16,), 4) == (16, 4)
    assert seq.label_space((16,), 4) == spaces.MultiDiscrete(np.full(16, 4))
    assert s2s.prediction_shape((8, 8), (5,), 8) == (5, 8)  # the output length is the target's
    assert [k.metric for k in (c, r, rec, seq, s2s)] == ["accuracy", "mse", "mse", "accuracy", "accuracy"]
    assert [k.labelled for k in (c, r, rec, seq, s2s)] == [True, False, False, True, True]


def test_target_checks_say_what_to_change():
    x = np.zeros((30, 3), np.float32)
    y, n_classes = KINDS["classification"].check_targets(x, np.arange(30) % 3, 0)
    assert n_classes == 3 and y.dtype == np.int64
    with pytest.raises(ValueError, match=r"must be \(N,\) labels with N = 30; got y of shape \(30, 2\)"):
        KINDS["classification"].check_targets(x, np.zeros((30, 2)), 0)
    with pytest.raises(ValueError, match="must be integer class labels"):
        KINDS["classification"].check_targets(x, np.full(30, 0.5), 0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, n_classes=2\); got -1..1 \(map them"):
        KINDS["classification"].check_targets(x, np.arange(30) % 3 - 1, 2)
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, D\) with N = 30 inputs; got y of shape \(30, 2, 1\)"):
        KINDS["regression"].check_targets(x, np.zeros((30, 2, 1)), 0)
    with pytest.raises(ValueError, match=r"one label per position, y \(N, T\); got \(30, 4, 3\) and \(30, 5\)"):
        KINDS["sequence"].check_targets(np.zeros((30, 4, 3)), np.zeros((30, 5), np.int64), 2)
    y, _ = KINDS["seq2seq"].check_targets(np.zeros((30, 4, 3)), np.zeros((30, 5), np.int64), 2)  # T_out free
    assert y.shape == (30, 5)


def test_rendering_is_the_kinds_an_image_keeps_its_layout():
    image = np.zeros((1, 8, 8), np.float32)
    image[0, 0, 0] = 1.0
    frame = KINDS["classification"].render(image, 0.0, 1.0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert frame[0, 0, 0] == 255 and frame[63, 63, 0] == 0  # the top-left pixel, 8x8 cells
