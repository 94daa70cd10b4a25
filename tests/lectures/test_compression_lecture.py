"""The compression lecture: its pieces and its pass condition on known tables."""

from __future__ import annotations

import torch

from agents.networks import mlp
from lectures.compression import COMPRESSED, accuracy_on_test, compression_curves, condition, latency_us
from lectures.runner import Table, Trial

PASSING = {
    "teacher": {"accuracy": 0.97},
    "pruned 90% + fine-tune": {"accuracy": 0.962},
    "8-bit": {"accuracy": 0.966},
    "16 clusters": {"accuracy": 0.966},
    "2-bit": {"accuracy": 0.80},
    "student alone": {"accuracy": 0.60},
    "student distilled": {"accuracy": 0.86},
    "conv 32->64 3x3": {"params": 18496},
    "separable 32->64 3x3": {"params": 2432},
}


def table_with(**changes) -> Table:
    figures = {arm: dict(values) for arm, values in PASSING.items()}
    for arm, value in changes.items():
        figures[arm.replace("_", " ")]["accuracy" if arm != "separable" else "params"] = value
    return Table([Trial(figures)])


def test_condition_holds_on_the_claim_and_fails_off_it():
    assert condition(table_with())
    assert set(COMPRESSED) < set(PASSING)
    assert not condition(table_with(student_distilled=0.75))  # distillation gains < 20 points
    assert not condition(Table([Trial({**PASSING, "pruned 90% + fine-tune": {"accuracy": 0.95}})]))
    assert not condition(Table([Trial({**PASSING, "8-bit": {"accuracy": 0.96}})]))
    assert not condition(Table([Trial({**PASSING, "16 clusters": {"accuracy": 0.96}})]))
    assert not condition(Table([Trial({**PASSING, "2-bit": {"accuracy": 0.90}})]))
    assert not condition(Table([Trial({**PASSING, "separable 32->64 3x3": {"params": 3000}})]))


def test_curves_leave_the_model_unchanged_and_degrade_with_fewer_bits():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), mlp([64, 32, 10]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bits, pruned = compression_curves(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert len(bits["quantised"][0]) == 6 and len(pruned["no fine-tuning"][0]) == 6
    assert pruned["no fine-tuning"][1][0] == accuracy_on_test(model)  # 0 pruned: the model itself
    assert latency_us(model, torch.zeros(1, 1, 8, 8), repeats=5) > 0
