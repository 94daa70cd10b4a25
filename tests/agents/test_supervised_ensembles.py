"""The supervised learner's auto-encoder (net=autoencoder) and bagging (members=K), and
`gymlab eval RUN --anomaly`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import gymlab
from agents.supervised import Ensemble, Supervised, average_probabilities, bagging_loss, bootstrap_counts
from gymlab.cli import main
from supervised.kinds import cross_entropy_loss


def test_autoencoder_is_an_encoder_to_the_bottleneck_and_a_mirrored_decoder():
    agent = Supervised("gymlab/DigitsReconstruction-v0", net="autoencoder", hidden=[32, 16], bottleneck=3)
    sizes = [layer.out_features for layer in agent.model.modules() if isinstance(layer, torch.nn.Linear)]
    assert sizes == [32, 16, 3, 16, 32, 64]
    codes = agent.model.body(torch.zeros(5, 64))  # the encoder
    assert codes.shape == (5, 3) and agent.model(torch.zeros(5, 1, 8, 8)).shape == (5, 1, 8, 8)


@pytest.mark.parametrize("env_id", ["gymlab/Digits-v0", "gymlab/Diabetes-v0"])
def test_autoencoder_is_refused_on_other_kinds(env_id):
    with pytest.raises(ValueError, match="net=autoencoder needs a reconstruction task"):
        Supervised(env_id, net="autoencoder")


def test_classes_restrict_the_train_split():
    agent = Supervised("gymlab/DigitsReconstruction-v0", env_kwargs={"classes": [0, 1]}, batch_size=8)
    assert len(agent.train_set) == len(gymlab.dataset("gymlab/Digits-v0", "train", classes="0,1")[0])
    assert len(agent.train_set) < 0.3 * len(gymlab.dataset("gymlab/Digits-v0", "train")[0])


def test_average_probabilities_known_answer():
    # member 1 says (0.8, 0.2), member 2 says (0.4, 0.6): the ensemble says (0.6, 0.4)
    logits = torch.log(torch.tensor([[[0.8, 0.2]], [[0.4, 0.6]]]))  # (K=2, B=1, C=2)
    np.testing.assert_allclose(average_probabilities(logits).exp().numpy(), [[0.6, 0.4]], rtol=1e-6)


def test_averaged_probabilities_nll_is_at_most_the_members_mean_nll():
    # Jensen: -log(mean_k p_k) <= mean_k(-log p_k), with equality only when the members agree
    logits = torch.randn(5, 200, 3, generator=torch.Generator().manual_seed(0)) * 3  # (K, B, C)
    target = torch.randint(3, (200,), generator=torch.Generator().manual_seed(1))
    ensemble_nll = cross_entropy_loss(average_probabilities(logits), target)  # (B,)
    members_nll = torch.stack([cross_entropy_loss(member, target) for member in logits]).mean(dim=0)  # (B,)
    assert (ensemble_nll <= members_nll + 1e-6).all() and float(ensemble_nll.mean()) < float(members_nll.mean()) - 0.1
    same = logits[:1].expand(5, -1, -1)
    torch.testing.assert_close(
        cross_entropy_loss(average_probabilities(same), target), cross_entropy_loss(logits[0], target)
    )


def test_bootstrap_counts_are_resamples():
    counts = bootstrap_counts(1000, 4, torch.Generator().manual_seed(0))
    assert counts.shape == (4, 1000) and (counts.sum(dim=1) == 1000).all()
    left_out = float((counts == 0).float().mean())
    assert abs(left_out - math.exp(-1)) < 0.03  # each row is out of a resample with probability (1 - 1/n)^n
    assert not torch.equal(counts[0], counts[1])


def test_bagging_loss_weighs_each_member_by_its_own_counts():
    member_losses = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # (K=2, B=2)
    counts = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    assert float(bagging_loss(member_losses, counts)) == pytest.approx((2 * 1 + 0) / 2 + (3 + 4) / 2)


def test_bagging_trains_members_on_their_own_resamples_and_saves_as_one_run(tmp_path):
    agent = Supervised("gymlab/Digits-v0", seed=0, net="mlp", hidden=[32], members=3, epochs=3, batch_size=64)
    assert isinstance(agent.model, Ensemble) and len(agent.model.members) == 3
    agent.learn(run_dir=tmp_path / "bagged")
    first, second = (list(m.parameters())[0] for m in agent.model.members[:2])
    assert not torch.equal(first, second)
    x = torch.as_tensor(gymlab.dataset("gymlab/Digits-v0", "test")[0][:50])
    with torch.no_grad():
        members = agent.model.member_outputs(x)  # (K, B, C)
        np.testing.assert_allclose(agent.model(x).exp().numpy(), members.softmax(-1).mean(0).numpy(), atol=1e-6)
    accuracy = agent.evaluate()["accuracy"]
    assert accuracy > 0.8
    loaded = gymlab.load(tmp_path / "bagged")
    assert isinstance(loaded.model, Ensemble) and loaded.evaluate()["accuracy"] == accuracy
    torch.testing.assert_close(loaded.model.counts, agent.model.counts)


def test_bagging_averages_regression_predictions():
    agent = Supervised("gymlab/Diabetes-v0", seed=0, members=2, epochs=1)
    x = torch.zeros(4, 10)
    with torch.no_grad():
        torch.testing.assert_close(agent.model(x), agent.model.member_outputs(x).mean(dim=0))


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("anomaly") / "ae"
    args = ["train", "supervised", "gymlab/DigitsReconstruction-v0", "--set", "epochs=8", "--set", "bottleneck=8",
            "--env-kwargs", "classes=0,1,2,3,4", "--run-dir", str(run_dir), "--quiet"]  # fmt: skip
    assert main(args) == 0
    return run_dir


def test_eval_anomaly_reports_the_roc_auc(detector, capsys):
    assert main(["eval", str(detector), "--anomaly", "--json"]) == 0
    out = capsys.readouterr().out
    assert "normal = classes 0,1,2,3,4" in out and "roc_auc:" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["roc_auc"] > 0.8 and figures["error_anomaly"] > figures["error_normal"]


def test_eval_anomaly_refuses_runs_it_cannot_judge(tmp_path, tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--anomaly"]) == 2
    assert "--anomaly needs a reconstruction run" in capsys.readouterr().err
    whole = tmp_path / "whole"
    assert main(["train", "supervised", "gymlab/DigitsReconstruction-v0", "--set", "epochs=1", "--run-dir", str(whole),
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["eval", str(whole), "--anomaly"]) == 2
    assert "trained on some classes only" in capsys.readouterr().err
