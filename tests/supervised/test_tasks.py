"""Tests for supervised.tasks (the built-in tasks) and load_task: shapes, splits, standardisation, generated tasks."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine

from supervised import SPLITS, TASKS, load_task, registry
from supervised.registry import split_indices
from supervised.tasks import PIECEWISE_NOISE, piecewise_curve, sequence_labels

EXPECTED = {  # task -> (kind, obs_shape, y trailing shape, y dtype, n_classes, total rows)
    "digits": ("classification", (1, 8, 8), (), np.int64, 10, 1797),
    "digits-thick": ("classification", (1, 8, 8), (), np.int64, 10, 1797),
    "diabetes": ("regression", (10,), (), np.float32, 0, 442),
    "piecewise": ("regression", (1,), (), np.float32, 0, 2000),
    "sequence": ("sequence", (16, 8), (16,), np.int64, 4, 6000),
    "sort": ("seq2seq", (8, 8), (8,), np.int64, 8, 4000),
    "reverse": ("seq2seq", (8, 10), (9,), np.int64, 10, 5000),
    "topics": ("sequence", (8, 160), (8,), np.int64, 16, 5000),
    "digits-reconstruction": ("reconstruction", (1, 8, 8), (1, 8, 8), np.float32, 0, 1797),
    "sine": ("regression", (1,), (), np.float32, 0, 1000),
    "breast-cancer": ("classification", (30,), (), np.int64, 2, 569),
    "wine": ("classification", (13,), (), np.int64, 3, 178),
    "iris": ("classification", (4,), (), np.int64, 3, 150),
    "moons": ("classification", (2,), (), np.int64, 2, 1000),
    "moons-rotated": ("classification", (2,), (), np.int64, 2, 1000),
}
BUILTIN = [name for name, spec in TASKS.items() if spec.builtin]


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("split", SPLITS)
def test_shapes_dtypes_and_bounds(name, split):
    kind, obs_shape, y_shape, y_dtype, n_classes, _ = EXPECTED[name]
    data = load_task(name, split)
    assert (data.name, data.split, data.kind.name, data.n_classes) == (
        name,
        split,
        kind,
        n_classes,
    )
    assert data.x.dtype == np.float32 and data.x.shape[1:] == obs_shape
    assert data.obs_shape == obs_shape
    assert data.y.dtype == y_dtype and data.y.shape == (len(data), *y_shape)
    assert np.all(data.x >= data.x_low) and np.all(data.x <= data.x_high)
    if n_classes:
        assert data.y.min() >= 0 and data.y.max() < n_classes


@pytest.mark.parametrize("name", BUILTIN)
def test_splits_are_disjoint_cover_the_task_and_are_70_15_15(name):
    total = EXPECTED[name][-1]
    parts = {split: load_task(name, split).indices for split in SPLITS}
    everything = np.concatenate(list(parts.values()))
    assert len(everything) == total and len(np.unique(everything)) == total
    assert abs(len(parts["train"]) - 0.70 * total) <= 1
    assert abs(len(parts["val"]) - 0.15 * total) <= 1


def test_splits_are_reproducible_after_a_cold_start():
    before = {(n, s): load_task(n, s) for n in BUILTIN for s in SPLITS}
    load_task.cache_clear()
    registry._rows.cache_clear()
    for (name, split), old in before.items():
        new = load_task(name, split)
        assert new is not old
        np.testing.assert_array_equal(new.indices, old.indices)
        np.testing.assert_array_equal(new.x, old.x)
        np.testing.assert_array_equal(new.y, old.y)
    np.testing.assert_array_equal(split_indices(100, "val"), split_indices(100, "val"))


def test_arrays_are_read_only():
    data = load_task("digits", "train")
    with pytest.raises(ValueError):
        data.x[0, 0, 0, 0] = 1.0


def test_digits_are_sklearn_images_scaled_to_unit_interval():
    data = load_task("digits", "val")
    bunch = load_digits()
    np.testing.assert_allclose(data.x[:, 0], bunch.images[data.indices] / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y, bunch.target[data.indices])


def test_diabetes_is_standardised_with_train_statistics():
    train, test = load_task("diabetes", "train"), load_task("diabetes", "test")
    np.testing.assert_allclose(train.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.x.std(axis=0), 1.0, atol=1e-4)
    assert abs(float(train.y.mean())) < 1e-5 and abs(float(train.y.std()) - 1.0) < 1e-4
    assert test.target_mean == train.target_mean and test.target_std == train.target_std
    raw = load_diabetes(scaled=False).target
    np.testing.assert_allclose(test.to_original_units(test.y), raw[test.indices], rtol=1e-5)


def test_piecewise_is_the_lecture_curve_plus_noise():
    data = load_task("piecewise", "train")
    residual = data.y - piecewise_curve(data.x[:, 0])
    assert abs(float(residual.mean())) < 0.02
    assert abs(float(residual.std()) - PIECEWISE_NOISE) < 0.01
    # b + sum_i c_i sigmoid(...) at the far left is b + c_i for bends that are "on": c_0 only.
    assert piecewise_curve(np.array([-50.0]))[0] == pytest.approx(0.5)
    assert piecewise_curve(np.array([50.0]))[0] == pytest.approx(0.5 + 2.0 - 3.0 + 1.5)


def test_sequence_labels_known_answer():
    tokens = np.array([[3, 1, 3, 2, 3, 3, 0, 1]])
    # 3 occurs four times (3 others, capped at 3), 1 twice (1 other), 2 and 0 once.
    expected = [[3, 1, 3, 0, 3, 3, 0, 1]]
    np.testing.assert_array_equal(sequence_labels(tokens), expected)
    np.testing.assert_array_equal(sequence_labels(tokens, n_classes=3)[0, 0], 2)


def test_sequence_needs_context():
    data = load_task("sequence", "train")
    tokens = data.x.argmax(axis=-1)  # (N, T) from one-hot
    np.testing.assert_array_equal(data.x.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(data.y, sequence_labels(tokens))
    # A per-token predictor sees only the token; the label distribution must not depend on it,
    # and no class may dominate, or predicting the majority would already "solve" the task.
    shares = np.bincount(data.y.ravel(), minlength=data.n_classes) / data.y.size
    assert shares.max() < 0.31
    for token in range(data.x.shape[-1]):
        by_token = np.bincount(data.y[tokens == token], minlength=data.n_classes)
        np.testing.assert_allclose(by_token / by_token.sum(), shares, atol=0.03)


def test_unknown_task_or_split_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown task 'mnist'; known: digits, diabetes"):
        load_task("mnist", "train")
    with pytest.raises(ValueError, match=r"unknown split 'dev'; choose one of: train, val, test"):
        load_task("digits", "dev")


@pytest.mark.parametrize(
    ("name", "loader"), [("breast-cancer", load_breast_cancer), ("wine", load_wine), ("iris", load_iris)]
)
def test_tabular_tasks_are_sklearns_rows_standardised_with_train_statistics(name, loader):
    raw_x, raw_y = loader(return_X_y=True)
    train = split_indices(len(raw_y), "train")
    mean, std = raw_x[train].mean(axis=0), raw_x[train].std(axis=0)
    for split in SPLITS:
        data = load_task(name, split)
        np.testing.assert_array_equal(data.y, raw_y[data.indices])
        np.testing.assert_allclose(data.x, (raw_x[data.indices] - mean) / std, rtol=1e-4, atol=1e-4)


def test_moons_rotated_is_the_moons_turned_30_degrees_about_the_centre():
    from supervised.tasks import MOONS_CENTRE, rotate

    assert np.allclose(rotate(np.array([[1.5, 0.25]]), 90.0), [[0.5, 1.25]])
    assert np.allclose(rotate(np.array([MOONS_CENTRE]), 30.0), [MOONS_CENTRE])
    rotated = load_task("moons-rotated", "train")
    back = rotate(rotated.x, -30.0)  # unrotated, the target's points lie on the two moons again
    source = load_task("moons", "train")
    assert abs(back[:, 1].max() - source.x[:, 1].max()) < 0.3 and abs(back[:, 1].min() - source.x[:, 1].min()) < 0.3


def test_thicken_spreads_each_pixel_over_its_2x2_block_and_digits_thick_is_the_digits_thickened():
    from supervised.tasks import thicken

    dot = np.zeros((1, 1, 3, 3), dtype=np.float32)
    dot[0, 0, 1, 1], dot[0, 0, 2, 2] = 1.0, 0.5
    expected = [[1.0, 1.0, 0.0], [1.0, 1.0, 0.5], [0.0, 0.5, 0.5]]  # a pixel reaches up and left
    np.testing.assert_array_equal(thicken(dot)[0, 0], expected)
    source, target = load_task("digits", "test"), load_task("digits-thick", "test")
    np.testing.assert_array_equal(target.y, source.y)
    np.testing.assert_array_equal(target.x, thicken(source.x))
    assert target.x.mean() > 1.5 * source.x.mean()
