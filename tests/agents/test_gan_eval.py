"""Tests for agents.gan_eval: the Fréchet distance and diversity figures against known answers,
the judge's features, and the sample grid."""

import math

import numpy as np
import pytest
import torch

from agents.gan_eval import Judge, class_diversity, feature_statistics, frechet_distance, gan_metrics, image_grid


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(mu, cov, mu + 1.0, cov) == pytest.approx(5.0)
    # diagonal covariances: sum of (sqrt(a) - sqrt(b))^2
    c1, c2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    assert frechet_distance(np.zeros(2), c1, np.zeros(2), c2) == pytest.approx((1 - 3) ** 2 + (2 - 1) ** 2)
    # general case against scipy's matrix square root
    from scipy.linalg import sqrtm

    b = rng.normal(size=(5, 5))
    cov2 = b @ b.T
    expected = np.trace(cov + cov2 - 2 * sqrtm(cov @ cov2).real)
    assert frechet_distance(mu, cov, mu, cov2) == pytest.approx(expected, rel=1e-6)


def test_class_diversity():
    probs = np.full((10, 10), 0.01)
    probs[np.arange(10), np.arange(10)] = 0.91  # one confident sample per class
    probs[0] = 0.1  # except the first, which is unsure (predicted class 0)
    out = class_diversity(probs)
    assert out["class_entropy"] == pytest.approx(math.log(10))
    assert out["classes_generated"] == 10
    assert out["confident_fraction"] == pytest.approx(0.9)
    assert sum(out[f"class_fraction_{k}"] for k in range(10)) == pytest.approx(1.0)
    collapsed = class_diversity(np.tile(np.eye(10)[3], (5, 1)))
    assert collapsed["class_entropy"] == 0.0 and collapsed["class_fraction_3"] == 1.0


def test_image_grid_shape():
    grid = image_grid(torch.rand(10, 1, 8, 8), columns=4, scale=2, pad=1)
    assert grid.dtype == np.uint8 and grid.shape == (3 * 17 + 1, 4 * 17 + 1, 3)


def test_feature_statistics_known_answers():
    mean, cov = feature_statistics(np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]]))
    np.testing.assert_allclose(mean, [2.0, 1.0])
    np.testing.assert_allclose(cov, [[4.0, 0.0], [0.0, 0.0]])  # unbiased: (4 + 0 + 4) / 2


def test_judge_sees_the_penultimate_layer():
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = torch.randn(7, 3)
    features, probs = Judge(classifier, classifier)(x, batch=3)  # batches of 3, 3 and 1
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(features), classifier[:2](x))
        torch.testing.assert_close(torch.from_numpy(probs), torch.softmax(classifier(x), dim=-1))


def test_gan_metrics_of_a_perfect_and_a_collapsed_generator():
    """With a judge whose features are the inputs themselves: samples drawn like the held-out data
    sit at the floor; a generator that always draws one input is far off and has one class."""
    classifier = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(2, 2))
    with torch.no_grad():
        classifier[1].weight.copy_(torch.eye(2)), classifier[1].bias.zero_()
    judge = Judge(classifier, classifier)
    judge.test_accuracy = 1.0
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(2000, 2)).astype(np.float32)
    held_out = rng.normal(size=(500, 2)).astype(np.float32)
    perfect = gan_metrics(
        lambda n: torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32)), judge, reference, held_out
    )
    assert perfect["frechet_distance"] < 0.1 and perfect["frechet_floor"] < 0.1
    assert perfect["frechet_noise"] > perfect["frechet_distance"] and perfect["classes_generated"] == 2
    assert perfect["judge_test_accuracy"] == 1.0
    collapsed = gan_metrics(lambda n: torch.tensor([[3.0, 0.0]]).expand(n, 2), judge, reference, held_out)
    # no spread: |(3, 0) - mean|^2 + tr(reference covariance), about 9 + 2
    mean, cov = feature_statistics(reference)
    assert collapsed["frechet_distance"] == pytest.approx(((np.array([3.0, 0.0]) - mean) ** 2).sum() + np.trace(cov))
    assert collapsed["frechet_distance"] == pytest.approx(11.0, rel=0.05)
    assert collapsed["classes_generated"] == 1 and collapsed["class_entropy"] == 0.0
    assert collapsed["frechet_ratio"] > 50
