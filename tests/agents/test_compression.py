"""Compression: known answers for pruning, quantisation, clustering and the size count; masks that
persist across checkpoints; ``gymlab compress`` and its bad input."""

from __future__ import annotations

import math

import pytest
import torch

import gymlab
from agents import Supervised, runs
from agents.compression import (
    Compressed,
    cluster,
    compress_run,
    compressed_bits,
    compressible_weights,
    dequantize,
    fake_quantize,
    magnitude_masks,
    nearest,
    prune_masks,
    quantize,
    structured_mask,
    tensor_bits,
)
from agents.networks import mlp
from gymlab.cli import main


# ----------------------------------------------------------------------------- the methods
def test_quantize_known_codes_and_round_trip():
    values = torch.tensor([-1.0, -0.6, 0.0, 0.2, 1.0])
    codes, scale = quantize(values, 2)  # levels -1, 0, 1 (scale 1)
    assert scale == 1.0 and codes.tolist() == [-1, -1, 0, 0, 1]
    codes, scale = quantize(values, 3)  # levels k/3, k in -3..3
    assert scale == pytest.approx(1 / 3) and codes.tolist() == [-3, -2, 0, 1, 3]
    # round trip: decoding then encoding gives the codes back; decoded values are within half a step
    weights = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    for bits in (2, 4, 8, 16):
        codes, scale = quantize(weights, bits)
        decoded = dequantize(codes, scale)
        assert (decoded - weights).abs().max() <= scale / 2 + 1e-6
        assert torch.equal(quantize(decoded, bits)[0], codes)
        assert torch.equal(fake_quantize(decoded, bits), decoded)  # the grid maps to itself
        assert len(codes.unique()) <= 2**bits - 1
    assert float(fake_quantize(torch.tensor([0.0, 0.01, 1.0]), 8)[0]) == 0.0  # zero is a level


def test_global_magnitude_pruning_keeps_the_largest_over_all_tensors():
    weights = {"a": torch.tensor([[1.0, -5.0], [0.1, 3.0]]), "b": torch.tensor([[2.0, -0.2]])}
    masks = magnitude_masks(weights, 0.5)  # keep 3 of 6: |-5|, 3, 2
    assert masks["a"].tolist() == [[False, True], [False, True]]
    assert masks["b"].tolist() == [[True, False]]


def test_structured_pruning_removes_whole_units_and_keeps_the_output_layer():
    weight = torch.tensor([[3.0, 4.0], [0.1, 0.1], [1.0, 0.0], [0.0, 2.0]])  # row norms 5, 0.14, 1, 2
    assert structured_mask(weight, 0.5).tolist() == [[True, True], [False, False], [False, False], [True, True]]
    model = mlp([4, 8, 3])
    masks = prune_masks(model, 0.5, structured=True)
    assert masks["0.weight"].all(dim=1).sum() == 4 and masks["0.weight"].any(dim=1).sum() == 4  # 4 of 8 rows
    assert masks["2.weight"].all()  # the output layer: every class stays


def test_cluster_known_centroids():
    values = torch.tensor([0.0, 0.1, 0.9, 1.0, 0.95])
    centroids, assignment = cluster(values, 2)
    assert centroids.tolist() == pytest.approx([0.05, 0.95])
    assert assignment.tolist() == [0, 0, 1, 1, 1]
    centroids = torch.tensor([-1.0, 0.0, 2.0])
    points = torch.tensor([-3.0, -0.4, 0.7, 1.1, 5.0])
    assert torch.equal(nearest(points, centroids), (points[:, None] - centroids).abs().argmin(1))


def test_size_counts_known_bits():
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask.view(-1)[:10] = True  # 10 of 100 kept
    assert tensor_bits(torch.ones(10, 10, dtype=torch.bool)) == {"values": 3200, "table": 0, "index": 0}
    # 8-bit values, a scale; index: 10 kept * ceil(log2 100) = 70 bits < a 100-bit bitmap
    assert tensor_bits(mask, bits=8) == {"values": 80, "table": 32, "index": 70}
    # 16 clusters of float32 centroids: 4-bit indices, a 16 * 32-bit codebook; 50 kept: the bitmap is cheaper
    half = torch.zeros(100, dtype=torch.bool)
    half[:50] = True
    assert tensor_bits(half.view(10, 10), clusters=16) == {"values": 200, "table": 512, "index": 100}
    rows = torch.zeros(10, 10, dtype=torch.bool)
    rows[:3] = True  # structured: 3 of 10 units, one bit per unit
    assert tensor_bits(rows, structured=True) == {"values": 30 * 32, "table": 0, "index": 10}
    model = mlp([4, 3])  # 12 weights + 3 biases
    assert compressed_bits(model) == 15 * 32
    assert compressed_bits(model, bits=4) == 12 * 4 + 32 + 3 * 32


# ----------------------------------------------------------------------------- the learner
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A small MLP trained on digits for one epoch."""
    run_dir = tmp_path_factory.mktemp("runs") / "digits"
    Supervised("gymlab/Digits-v0", seed=0, net="mlp", hidden=[32], epochs=2, device="cpu").learn(run_dir=run_dir)
    return run_dir


def test_pruning_masks_persist_across_a_checkpoint(digits_run, tmp_path):
    source = gymlab.load(digits_run)
    before = {k: v.clone() for k, v in compressible_weights(source.model).items()}
    agent = compress_run(digits_run, tmp_path / "pruned", prune=0.8, finetune=640)
    total = sum(w.numel() for w in before.values())
    masks = agent.masks.as_dict()
    assert sum(int(m.sum()) for m in masks.values()) == round(0.2 * total)
    weights = compressible_weights(agent.model)
    for name, mask in masks.items():
        assert (weights[name][~mask] == 0).all()  # pruned: exactly 0 after fine-tuning
        assert not torch.equal(weights[name][mask], before[name][mask])  # kept: fine-tuned
    loaded = gymlab.load(tmp_path / "pruned")
    assert isinstance(loaded, Compressed)
    for name, mask in loaded.masks.as_dict().items():
        assert torch.equal(mask, masks[name])
    # the network's keys are an uncompressed model's: the weights load into the original learner
    state = runs.load_checkpoint(runs.latest_checkpoint(tmp_path / "pruned"))
    source.model.load_state_dict(state["modules"]["model"])
    # fine-tuning on from the checkpoint (train --resume) keeps the pruned weights at 0
    assert main(["train", "--resume", str(tmp_path / "pruned"), "--steps", "1920", "--quiet"]) == 0
    resumed = gymlab.load(tmp_path / "pruned")
    assert resumed.num_timesteps >= 1920
    for name, weight in compressible_weights(resumed.model).items():
        assert (weight[~masks[name]] == 0).all()
        assert not torch.equal(weight[masks[name]], weights[name][masks[name]])


def test_quantised_and_clustered_weights_take_few_values(digits_run, tmp_path):
    quantised = compress_run(digits_run, tmp_path / "q", bits=4)
    for weight in compressible_weights(quantised.model).values():
        assert len(weight.unique()) <= 15
    clustered = compress_run(digits_run, tmp_path / "c", clusters=8, bits=8)
    for weight in compressible_weights(clustered.model).values():
        assert len(weight.unique()) <= 8
    loaded = gymlab.load(tmp_path / "c")
    for name, weight in compressible_weights(loaded.model).items():
        assert torch.equal(weight, compressible_weights(clustered.model)[name])
    dense_bits = 32 * sum(p.numel() for p in loaded.model.parameters())
    assert loaded.size_bytes() < dense_bits / 8 / 3


def test_cli_compress_and_eval_report_accuracy_and_size(digits_run, tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["compress", str(digits_run), "--prune", "0.5", "--bits", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "size:" in printed and "bytes compressed" in printed
    assert main(["eval", str(out)]) == 0
    printed = capsys.readouterr().out
    accuracy = float(next(line for line in printed.splitlines() if line.startswith("accuracy:")).split()[1])
    size = int(next(line for line in printed.splitlines() if line.startswith("size:")).split()[1])
    assert accuracy > 0.5
    agent = gymlab.load(out)
    assert size == agent.size_bytes() == math.ceil(compressed_bits(agent.model, **agent.compression()) / 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prune", "1.5"], "prune must be in [0, 1)"),
        (["--bits", "1"], "bits must be in 2..16"),
        (["--clusters", "1"], "clusters must be 0 (no weight sharing) or >= 2"),
        (["--clusters", "8", "--bits", "2"], "8 clusters need more than 2-bit centroids"),
        (["--prune", "x"], "invalid float value"),
    ],
)
def test_cli_compress_bad_input_exits_2_with_one_line(digits_run, tmp_path, capsys, args, message):
    try:
        code = main(["compress", str(digits_run), "--out", str(tmp_path / "out"), *args])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_cli_compress_refuses_a_missing_run_and_a_taken_out(digits_run, tmp_path, capsys):
    assert main(["compress", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert "is not a gymlab run" in capsys.readouterr().err
    assert main(["compress", str(digits_run), "--out", str(digits_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_train_refuses_a_compressed_run_from_scratch(tmp_path, capsys):
    assert main(["train", "compressed", "CartPole-v1", "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    assert "gymlab compress RUN_DIR --out DIR" in capsys.readouterr().err
