"""gymlab's built-in tasks, one declaration each (all offline: scikit-learn's bundled data, or
generated from a fixed seed). Add your own with :func:`supervised.register_task`."""

from __future__ import annotations

from functools import partial

import numpy as np

from supervised import families
from supervised.kinds import KINDS
from supervised.registry import TaskSpec, declare

# Lecture 1's model: y = b + sum_i c_i * sigmoid(b_i + w_i * x), a smooth piecewise-linear curve.
PIECEWISE_SIZE = 2_000
PIECEWISE_SEED = 1
PIECEWISE_X_RANGE = (-4.0, 4.0)
PIECEWISE_BIAS = 0.5  # b
PIECEWISE_HEIGHTS = (2.0, -3.0, 1.5)  # c_i
PIECEWISE_OFFSETS = (6.0, -2.0, -10.0)  # b_i: the i-th bend sits at x = -b_i / w_i = -2, 0.5, 2
PIECEWISE_SLOPES = (3.0, 4.0, 5.0)  # w_i
PIECEWISE_NOISE = 0.1

# Sequence labelling: label = how many *other* positions hold the same token, capped at
# SEQUENCE_CLASSES - 1. The count is Binomial(T - 1, 1 / vocab) whatever the token is, so a
# per-token MLP cannot beat the majority class (about 29%); attention, which compares a token
# with every other, can reach 100%. With T=16 and vocab=8 the four classes are nearly balanced
# (13.5%, 28.9%, 28.9%, 28.7%).
SEQUENCE_SIZE = 6_000
SEQUENCE_SEED = 2
SEQUENCE_LENGTH = 16
SEQUENCE_VOCAB = 8
SEQUENCE_CLASSES = 4

# Sequence to sequence: the input's tokens, sorted. Every output position depends on the whole input.
SORT_SIZE = 4_000
SORT_SEED = 3
SORT_LENGTH = 8
SORT_VOCAB = 8

# Reverse: a token sequence of 1..REVERSE_MAX_LENGTH symbols, padded, to the same symbols reversed
# and an end-of-sequence token. Tokens: PAD = 0, EOS = 1, the symbols 2 .. REVERSE_VOCAB + 1. The
# input is padded to REVERSE_MAX_LENGTH, the output to REVERSE_MAX_LENGTH + 1 (room for EOS).
REVERSE_SIZE = 5_000
REVERSE_SEED = 5
REVERSE_MAX_LENGTH = 8
REVERSE_VOCAB = 8
PAD, EOS = 0, 1

# Topics: sentences of TOPICS_LENGTH words; each sentence has one of TOPICS_CLASSES topics, and each
# word is, with probability TOPICS_ON_TOPIC, one of its topic's words (every word belongs to one
# topic, by a fixed random assignment), else any word. Every position is labelled with the
# sentence's topic. Which words go together is visible in unlabelled sentences (masked-token
# pre-training learns it); with few labels, most words are seen too rarely to learn their topic.
TOPICS_SIZE = 5_000
TOPICS_SEED = 6
TOPICS_LENGTH = 8
TOPICS_VOCAB = 160
TOPICS_CLASSES = 16
TOPICS_ON_TOPIC = 0.5

# Sine: the base of meta-learning's sine family (amplitude 1, phase 0 here; the family draws both).
SINE_SIZE = 1_000
SINE_SEED = 4
SINE_X_RANGE = (-5.0, 5.0)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) channel-first, in [0, 1]
    return x, bunch.target.astype(np.int64)


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)  # raw units; the registry standardises with train statistics
    return bunch.data.astype(np.float32), bunch.target.astype(np.float32)  # (442, 10), (442,)


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)  # raw units; the registry standardises with train statistics
    return x.astype(np.float32), y.astype(np.int64)  # (569, 30), (569,): 0 malignant, 1 benign


def _wine() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    return x.astype(np.float32), y.astype(np.int64)  # (178, 13), (178,): 3 cultivars


def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y.astype(np.int64)  # (150, 4), (150,): 3 species


def piecewise_curve(x: np.ndarray) -> np.ndarray:
    """Noise-free lecture-1 curve ``b + sum_i c_i * sigmoid(b_i + w_i * x)`` used by ``piecewise``."""
    x = np.asarray(x, dtype=np.float64)[..., None]  # (..., 1) against (n_sigmoids,)
    z = np.asarray(PIECEWISE_OFFSETS) + np.asarray(PIECEWISE_SLOPES) * x
    return PIECEWISE_BIAS + (np.asarray(PIECEWISE_HEIGHTS) / (1.0 + np.exp(-z))).sum(axis=-1)


def _piecewise(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(*PIECEWISE_X_RANGE, size=PIECEWISE_SIZE)  # (N,)
    y = piecewise_curve(x) + PIECEWISE_NOISE * rng.standard_normal(PIECEWISE_SIZE)
    return x.astype(np.float32)[:, None], y.astype(np.float32)  # (N, 1), (N,)


def sequence_labels(tokens: np.ndarray, n_classes: int = SEQUENCE_CLASSES) -> np.ndarray:
    """Label of each position: how many other positions hold the same token, capped at n_classes-1.

    ``tokens`` is (N, T) integers; the result is (N, T) int64.
    """
    tokens = np.asarray(tokens)
    same = tokens[:, :, None] == tokens[:, None, :]  # (N, T, T), diagonal included
    return np.minimum(same.sum(axis=-1) - 1, n_classes - 1).astype(np.int64)


def _sequence(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tokens = rng.integers(0, SEQUENCE_VOCAB, size=(SEQUENCE_SIZE, SEQUENCE_LENGTH))  # (N, T)
    x = np.eye(SEQUENCE_VOCAB, dtype=np.float32)[tokens]  # (N, T, vocab) one-hot
    return x, sequence_labels(tokens)  # (N, T)


def _sort(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tokens = rng.integers(0, SORT_VOCAB, size=(SORT_SIZE, SORT_LENGTH))  # (N, T)
    return np.eye(SORT_VOCAB, dtype=np.float32)[tokens], np.sort(tokens, axis=1)  # (N, T, vocab), (N, T)


def reverse_targets(tokens: np.ndarray) -> np.ndarray:
    """The output for padded inputs ``tokens`` (N, T) (PAD = 0 after the symbols): each row's
    symbols reversed, then EOS, then PAD: (N, T + 1) int64."""
    tokens = np.asarray(tokens)
    out = np.full((len(tokens), tokens.shape[1] + 1), PAD, dtype=np.int64)
    for row, sequence in zip(out, tokens):
        symbols = sequence[sequence != PAD]
        row[: len(symbols)] = symbols[::-1]
        row[len(symbols)] = EOS
    return out


def _reverse(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(1, REVERSE_MAX_LENGTH + 1, size=REVERSE_SIZE)  # (N,)
    symbols = rng.integers(2, REVERSE_VOCAB + 2, size=(REVERSE_SIZE, REVERSE_MAX_LENGTH))  # (N, T)
    tokens = np.where(np.arange(REVERSE_MAX_LENGTH) < lengths[:, None], symbols, PAD)  # padded
    n_tokens = REVERSE_VOCAB + 2
    return np.eye(n_tokens, dtype=np.float32)[tokens], reverse_targets(tokens)  # (N, T, n_tokens), (N, T + 1)


def _topics(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    word_topic = rng.permutation(TOPICS_VOCAB) % TOPICS_CLASSES  # (V,) each word's topic
    words_of = [np.flatnonzero(word_topic == k) for k in range(TOPICS_CLASSES)]
    topics = rng.integers(0, TOPICS_CLASSES, size=TOPICS_SIZE)  # (N,)
    on_topic = rng.random((TOPICS_SIZE, TOPICS_LENGTH)) < TOPICS_ON_TOPIC  # (N, T)
    topical = np.stack([rng.choice(words_of[k], TOPICS_LENGTH) for k in topics])  # (N, T)
    any_word = rng.integers(0, TOPICS_VOCAB, size=(TOPICS_SIZE, TOPICS_LENGTH))
    tokens = np.where(on_topic, topical, any_word)
    labels = np.repeat(topics[:, None], TOPICS_LENGTH, axis=1)  # (N, T): the sentence's topic everywhere
    return np.eye(TOPICS_VOCAB, dtype=np.float32)[tokens], labels


# Domain adaptation (HW11): two moons, and the same two moons rotated by 30 degrees about their
# centre (the target domain). A classifier fit to the source's boundary misreads the rotated tips.
MOONS_SIZE = 1_000
MOONS_SEED = 5
MOONS_NOISE = 0.1
MOONS_CENTRE = (0.5, 0.25)
MOONS_ROTATION_DEGREES = 30.0


def rotate(x: np.ndarray, degrees: float, centre=MOONS_CENTRE) -> np.ndarray:
    """Points (N, 2) rotated anticlockwise by ``degrees`` about ``centre``."""
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (np.asarray(x) - centre) @ rotation.T + centre


def _moons(rng: np.random.Generator, degrees: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    x, y = make_moons(MOONS_SIZE, noise=MOONS_NOISE, random_state=int(rng.integers(2**31)))
    return rotate(x, degrees).astype(np.float32), y.astype(np.int64)  # (N, 2), (N,)


def thicken(images: np.ndarray) -> np.ndarray:
    """Strokes one pixel thicker: each pixel of (N, C, H, W) images becomes the max of the 2x2
    block it starts (itself, its right, lower and lower-right neighbours; 0 beyond the edge)."""
    padded = np.pad(images, ((0, 0), (0, 0), (0, 1), (0, 1)))  # (N, C, H + 1, W + 1)
    blocks = [padded[..., dy : dy + images.shape[2], dx : dx + images.shape[3]] for dy in (0, 1) for dx in (0, 1)]
    return np.maximum.reduce(blocks)


def _digits_thick() -> tuple[np.ndarray, np.ndarray]:
    x, y = _digits()
    return thicken(x), y  # the same digits, bold: a domain shift for domain adaptation


def _digits_images() -> tuple[np.ndarray, np.ndarray]:
    return _digits()  # the images, and each one's digit (so that classes=0,1,2,3,4 can pick rows)


def _sine(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(*SINE_X_RANGE, size=(SINE_SIZE, 1)).astype(np.float32)  # (N, 1)
    return x, np.sin(x[:, 0]).astype(np.float32)


SUPERVISED_CNN = {"net": "cnn", "hidden": [512, 512], "learning_rate": 3.0e-3, "lr_schedule": "cosine"}

# Digits as a contextual bandit (reward 1 for the right label, 0 otherwise, no gradient): one body
# (the small CNN) shared by actor and critic; the entropy bonus keeps the softmax from saturating on
# a wrong label, where its gradient would vanish. PPO and REINFORCE; the GAN: the non-saturating loss
# with a gradient penalty (Fedus et al. 2018), samples from the moving average of the generator.
DIGITS_PRESETS = {
    "ppo": {"total_steps": 40000, "n_envs": 16, "n_steps": 16, "batch_size": 128, "n_epochs": 4,
            "learning_rate": 1.0e-3, "lr_schedule": "linear", "shared": True, "hidden": [256], "ent_coef": 0.03},
    "reinforce": {"total_steps": 40000, "n_envs": 16, "episodes_per_update": 64, "learning_rate": 3.0e-3,
                  "lr_schedule": "linear", "shared": True, "hidden": [256], "ent_coef": 0.03},
    "gan": {"total_steps": 2400000, "n_envs": 64, "loss": "standard", "hidden": [512, 512],
            "disc_hidden": [512, 512], "gp_coef": 1.0, "learning_rate": 5.0e-4, "disc_learning_rate": 5.0e-4,
            "lr_schedule": "linear", "adam_beta1": 0.5, "adam_beta2": 0.9, "ema_decay": 0.999},
    # total_steps 0 = `epochs` passes over the train split; weights chosen on the val split
    "supervised": {**SUPERVISED_CNN, "epochs": 30, "patience": 10},
}  # fmt: skip

declare(TaskSpec(
    "digits", _digits, KINDS["classification"], "1,797 8×8 handwritten digits (scikit-learn)",
    n_classes=10, x_bounds=(0.0, 1.0), presets=DIGITS_PRESETS, builtin=True,
    families={"permuted": partial(families.permuted, "digits"), "split": partial(families.split, "digits"),
              "few-shot": partial(families.few_shot, "digits"), "labelled": partial(families.labelled, "digits")},
))  # fmt: skip
declare(TaskSpec(
    "diabetes", _diabetes, KINDS["regression"], "scikit-learn's diabetes progression, standardised",
    standardise=True, builtin=True,
    presets={"supervised": {"net": "mlp", "hidden": [16], "learning_rate": 3.0e-3, "weight_decay": 1.0e-2, "epochs": 30}},
))  # fmt: skip
declare(TaskSpec(
    "piecewise", _piecewise, KINDS["regression"], "lecture 1's sum-of-sigmoids curve plus noise",
    seed=PIECEWISE_SEED, x_bounds=PIECEWISE_X_RANGE, builtin=True,
    presets={"supervised": {"net": "mlp", "hidden": [64, 64], "learning_rate": 3.0e-3, "lr_schedule": "cosine", "epochs": 30}},
))  # fmt: skip
declare(TaskSpec(
    "sequence", _sequence, KINDS["sequence"], "one-hot tokens labelled by how often each recurs",
    n_classes=SEQUENCE_CLASSES, seed=SEQUENCE_SEED, x_bounds=(0.0, 1.0), builtin=True,
    presets={"supervised": {"net": "attention", "learning_rate": 3.0e-3, "lr_schedule": "cosine", "epochs": 10, "patience": 5}},
))  # fmt: skip
declare(TaskSpec(
    "sort", _sort, KINDS["seq2seq"], "one-hot tokens to the same tokens sorted",
    n_classes=SORT_VOCAB, seed=SORT_SEED, x_bounds=(0.0, 1.0), builtin=True,
    presets={"supervised": {"net": "attention", "learning_rate": 3.0e-3, "lr_schedule": "cosine", "epochs": 10, "patience": 5}},
))  # fmt: skip
declare(TaskSpec(
    "reverse", _reverse, KINDS["seq2seq"], "1-8 one-hot tokens (PAD-padded) to the same reversed, then EOS",
    n_classes=REVERSE_VOCAB + 2, seed=REVERSE_SEED, x_bounds=(0.0, 1.0), builtin=True,
    presets={"supervised": {"net": "transformer", "learning_rate": 1.0e-3, "lr_schedule": "cosine", "epochs": 20,
                            "patience": 5}},
))  # fmt: skip
declare(TaskSpec(
    "topics", _topics, KINDS["sequence"], "words labelled by their sentence's topic (16 topics, 160 words)",
    n_classes=TOPICS_CLASSES, seed=TOPICS_SEED, x_bounds=(0.0, 1.0), builtin=True,
    presets={"supervised": {"net": "attention", "learning_rate": 1.0e-3, "epochs": 20, "patience": 5}},
    families={"masked": partial(families.masked, "topics"), "labelled": partial(families.labelled, "topics")},
))  # fmt: skip
declare(TaskSpec(
    "digits-reconstruction", _digits_images, KINDS["reconstruction"], "the 8×8 digits, reproduced (an autoencoder)",
    x_bounds=(0.0, 1.0), builtin=True,
    presets={"supervised": {"net": "autoencoder", "hidden": [256], "bottleneck": 16, "learning_rate": 3.0e-3, "epochs": 30}},
))  # fmt: skip
declare(TaskSpec(
    "sine", _sine, KINDS["regression"], "sin(x) on [-5, 5]; family sine draws amplitude and phase",
    seed=SINE_SEED, x_bounds=SINE_X_RANGE, builtin=True,
    presets={"supervised": {"net": "mlp", "hidden": [40, 40], "learning_rate": 3.0e-3, "epochs": 30}},
    families={"sine": partial(families.sine, "sine")},
))  # fmt: skip

# Small tabular classification (scikit-learn's bundled data, standardised with train statistics):
# a one-hidden-layer MLP, small batches for a few hundred rows.
TABULAR_PRESET = {"net": "mlp", "hidden": [32], "learning_rate": 3.0e-3, "batch_size": 16, "epochs": 60, "patience": 15}
declare(TaskSpec(
    "breast-cancer", _breast_cancer, KINDS["classification"],
    "scikit-learn's 569 breast tumours, malignant (0) or benign (1), standardised",
    n_classes=2, standardise=True, builtin=True, presets={"supervised": TABULAR_PRESET},
))  # fmt: skip
declare(TaskSpec(
    "wine", _wine, KINDS["classification"], "scikit-learn's 178 wines of 3 cultivars, standardised",
    n_classes=3, standardise=True, builtin=True, presets={"supervised": TABULAR_PRESET},
))  # fmt: skip
declare(TaskSpec(
    "iris", _iris, KINDS["classification"], "scikit-learn's 150 irises of 3 species, standardised",
    n_classes=3, standardise=True, builtin=True, presets={"supervised": TABULAR_PRESET},
))  # fmt: skip
declare(TaskSpec(
    "moons", _moons, KINDS["classification"], "scikit-learn's two moons (a source domain)",
    n_classes=2, seed=MOONS_SEED, builtin=True,
    presets={"supervised": {"net": "mlp", "hidden": [32, 32], "learning_rate": 3.0e-3, "epochs": 30}},
))  # fmt: skip
declare(TaskSpec(
    "moons-rotated", partial(_moons, degrees=MOONS_ROTATION_DEGREES), KINDS["classification"],
    "the two moons rotated by 30 degrees (the target domain of moons)",
    n_classes=2, seed=MOONS_SEED + 1, builtin=True,
    presets={"supervised": {"net": "mlp", "hidden": [32, 32], "learning_rate": 3.0e-3, "epochs": 30}},
))  # fmt: skip
declare(TaskSpec(
    "digits-thick", _digits_thick, KINDS["classification"],
    "the 8×8 digits with strokes a pixel thicker (a 2×2 max filter; the target domain of digits)",
    n_classes=10, x_bounds=(0.0, 1.0), builtin=True, presets={"supervised": {**SUPERVISED_CNN, "epochs": 30}},
))  # fmt: skip
