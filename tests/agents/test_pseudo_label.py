"""Tests for agents.pseudo_label and for starting a supervised run from a pre-trained body."""

import pytest
import torch

from agents.pseudo_label import PseudoLabel, pseudo_label_loss, random_shift
from agents.supervised import Supervised
from supervised.kinds import cross_entropy_loss


def test_pseudo_label_loss_counts_only_confident_examples():
    logits = torch.tensor([[10.0, 0.0], [0.0, 0.1]], requires_grad=True)  # confident 0; unsure
    loss, confident = pseudo_label_loss(logits.detach(), logits, 0.9, cross_entropy_loss)
    assert confident.tolist() == [1.0, 0.0]
    assert loss.item() == pytest.approx(cross_entropy_loss(logits[:1], torch.tensor([0])).item() / 2)
    loss.backward()
    assert logits.grad[1].abs().sum() == 0  # the unsure example gets no gradient


def test_random_shift_moves_whole_images_within_the_bound():
    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 2] = 1.0
    shifted = random_shift(image.repeat(200, 1, 1, 1), 1, torch.Generator().manual_seed(0))
    rows, cols = torch.nonzero(shifted[:, 0])[:, 1:].T
    assert shifted.sum().item() == 200  # the pixel is moved, never lost
    assert set(rows.tolist()) == {1, 2, 3} and set(cols.tolist()) == {1, 2, 3}


def test_pseudo_label_learner_needs_a_labelled_variant_and_uses_the_rest():
    with pytest.raises(ValueError, match="family=labelled"):
        PseudoLabel("gymlab/Digits-v0", net="mlp")
    agent = PseudoLabel("gymlab/Digits-v0", env_kwargs={"family": "labelled", "n_labels": 64}, net="mlp",
                        batch_size=32, epochs=2, warmup_epochs=1, threshold=0.1)  # fmt: skip
    assert len(agent.train_set) == 64 and len(agent.unlabelled) == 1258 - 64
    logged = []
    agent.learn(callback=lambda a, m: logged.append(m))
    assert logged[0]["train/pseudo_labelled"] == 0.0 and logged[-1]["train/pseudo_labelled"] > 0.5


def test_init_from_copies_the_body_and_keeps_a_new_head_fresh():
    pre = Supervised("gymlab/Topics-v0", env_kwargs={"family": "masked"}, net="attention", d_model=16, n_heads=2,
                     n_layers=1)  # fmt: skip
    fine = Supervised("gymlab/Topics-v0", env_kwargs={"family": "labelled", "n_labels": 100}, net="attention",
                      d_model=16, n_heads=2, n_layers=1, batch_size=20)  # fmt: skip
    head_before = fine.model.head.weight.clone()
    assert fine.init_from(pre) == ["head.bias", "head.weight"]  # vocabulary logits -> topic logits
    for name, value in pre.model.body.state_dict().items():
        torch.testing.assert_close(fine.model.body.state_dict()[name], value)
    torch.testing.assert_close(fine.model.head.weight, head_before)
    wider = Supervised("gymlab/Topics-v0", net="attention", d_model=32, n_heads=2, n_layers=1)
    with pytest.raises(ValueError, match="does not fit"):
        wider.init_from(pre)
