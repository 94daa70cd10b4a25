"""The regularization lecture's pieces: the small-weight fraction, MC dropout, the early-stopping
check read back from a run, and the pass condition."""

import torch
from torch import nn

from agents.supervised import Supervised
from lectures.regularization import (
    ARMS,
    MILD,
    SETTINGS,
    STRONG,
    condition,
    early_stopping_figures,
    mc_dropout_probabilities,
    small_weight_fraction,
)
from lectures.runner import Table, Trial


def test_small_weight_fraction_counts_weights_not_biases():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 5e-4], [-2e-3, 1.0]]))
        model[0].bias.zero_()  # never counted
        model[2].weight.copy_(torch.tensor([[-1e-4, 0.5]]))
    assert small_weight_fraction(model) == 3 / 6


def test_mc_dropout_without_dropout_is_eval_mode_and_leaves_eval_mode_on():
    torch.manual_seed(0)
    x = torch.randn(7, 4)
    plain = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    torch.testing.assert_close(mc_dropout_probabilities(plain, x, 5), torch.softmax(plain(x), -1))
    with_dropout = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3)).eval()
    one_mask = mc_dropout_probabilities(with_dropout, x, 1)
    many = mc_dropout_probabilities(with_dropout, x, 2000)
    eval_mode = torch.softmax(with_dropout(x), -1)
    assert not with_dropout.training
    assert (many - eval_mode).abs().max() < (one_mask - eval_mode).abs().max()  # averaging masks gets closer
    torch.testing.assert_close(many.sum(-1), torch.ones(7))


def test_early_stopping_figures_find_the_kept_epoch(tmp_path):
    settings = {**SETTINGS, "hidden": [32], "epochs": 60, "patience": 3}
    agent = Supervised("gymlab/Digits-v0", seed=0, preset=False, device="cpu", **settings)
    agent.learn(run_dir=tmp_path / "run")
    found = early_stopping_figures(agent, tmp_path / "run")
    assert found["kept_is_best"] == 1.0
    assert found["stopped_epoch"] - found["best_epoch"] == 3 and found["stopped_epoch"] < 60
    with torch.no_grad():  # other weights than those of the best epoch: the check fails
        agent.model.body[0].weight.mul_(0.5)
    assert early_stopping_figures(agent, tmp_path / "run")["kept_is_best"] == 0.0


def seed_figures(mild: float = 0.02, l2_small: float = 0.01) -> Trial:
    figures = {arm: {"narrowing": 0.05} for arm in STRONG}
    figures |= {arm: {"narrowing": mild} for arm in MILD}
    figures["L2"]["small_weights"] = l2_small
    figures["L1"] = {"small_weights": 0.7}
    figures["dropout"] |= {"mc_acc": 0.9, "eval_acc": 0.89}
    figures["early stopping"] = {"kept_is_best": 1.0}
    return Trial(figures)


def test_condition():
    assert set(ARMS) >= {*STRONG, *MILD, "baseline", "L1", "early stopping"}
    assert condition(Table([seed_figures(), seed_figures()]))
    assert not condition(Table([seed_figures(0.04), seed_figures(-0.01)]))  # one seed widened the gap
    assert not condition(Table([seed_figures(l2_small=0.2)]))  # L2 zeroed weights too
