"""Tests for agents.seq2seq and agents.sequence_rl: the causal mask, teacher forcing, greedy and
beam decoding, REINFORCE's loss, and starting a run from another supervised run."""

import numpy as np
import pytest
import torch

from agents.seq2seq import (
    Seq2SeqTransformer,
    beam_search,
    causal_mask,
    exact_match,
    greedy_decode,
    reinforce_sequence_loss,
    sample_sequences,
)
from agents.sequence_rl import SequenceReinforce, sequence_reward
from agents.supervised import Supervised
from supervised.datasets import load_task

SMALL = {"net": "transformer", "d_model": 16, "n_heads": 2, "n_layers": 1}


def small_model(causal: bool = True, seed: int = 0) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    return Seq2SeqTransformer(in_dim=5, in_len=4, out_len=6, n_tokens=7, d_model=16, heads=2, layers=2, causal=causal)


def test_causal_mask_blocks_the_future_only():
    mask = causal_mask(3)
    assert mask.tolist() == [[False, True, True], [False, False, True], [False, False, False]]


@pytest.mark.parametrize("causal", [True, False])
def test_a_later_decoder_token_changes_earlier_outputs_only_without_the_mask(causal):
    model = small_model(causal).eval()
    obs = torch.randn(2, 4, 5)
    target = torch.randint(0, 7, (2, 6))
    changed = target.clone()
    changed[:, 3] = (target[:, 3] + 1) % 7  # decoder input position 4 (BOS shifts it): outputs 4, 5 may change
    with torch.no_grad():
        before, after = model(obs, target), model(obs, changed)
    assert before.shape == (2, 6, 7)
    earlier_equal = torch.allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert earlier_equal == causal  # without the mask, position t reads the token it must predict
    assert not torch.allclose(before[:, 4:], after[:, 4:], atol=1e-6)


def test_teacher_forcing_equals_decoding_the_target_step_by_step():
    model = small_model().eval()
    obs, target = torch.randn(3, 4, 5), torch.randint(0, 7, (3, 6))
    with torch.no_grad():
        forced = model(obs, target)
        memory = model.encode(obs)
        stepwise = torch.stack([model.decode(memory, target[:, :t])[:, -1] for t in range(6)], dim=1)
    torch.testing.assert_close(forced, stepwise, atol=1e-5, rtol=1e-5)


def test_greedy_logits_pick_the_greedy_tokens_and_beam_one_is_greedy():
    model = small_model(seed=1).eval()
    obs = torch.randn(8, 4, 5)
    with torch.no_grad():
        tokens, logits = greedy_decode(model, obs)
        beam_tokens, beam_log_prob = beam_search(model, obs, 1)
        greedy_log_prob = torch.log_softmax(model(obs, tokens), -1).gather(-1, tokens.unsqueeze(-1)).sum((1, 2))
    assert torch.equal(logits.argmax(-1), tokens)
    assert torch.equal(beam_tokens, tokens)
    torch.testing.assert_close(beam_log_prob, greedy_log_prob, atol=1e-4, rtol=1e-4)


def test_a_wider_beam_finds_an_output_at_least_as_likely():
    model = small_model(seed=2).eval()
    obs = torch.randn(16, 4, 5)
    with torch.no_grad():
        _, greedy = beam_search(model, obs, 1)
        tokens, wide = beam_search(model, obs, 4)
        rescored = torch.log_softmax(model(obs, tokens), -1).gather(-1, tokens.unsqueeze(-1)).sum((1, 2))
    torch.testing.assert_close(wide, rescored, atol=1e-4, rtol=1e-4)  # the score is the output's log-probability
    assert bool((wide >= greedy - 1e-5).all()) and bool((wide > greedy + 1e-4).any())


def test_sampled_log_prob_is_the_teacher_forced_one():
    model = small_model(seed=3).eval()
    obs = torch.randn(5, 4, 5)
    torch.manual_seed(0)
    tokens, log_prob = sample_sequences(model, obs)
    expected = torch.log_softmax(model(obs, tokens), -1).gather(-1, tokens.unsqueeze(-1)).sum((1, 2))
    torch.testing.assert_close(log_prob, expected)
    assert log_prob.requires_grad


def test_reinforce_loss_known_value_and_gradient_direction():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    loss = reinforce_sequence_loss(log_prob, torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]))
    assert loss.item() == pytest.approx(-(0.5 * -1.0 + -0.5 * -2.0) / 2)
    loss.backward()
    assert log_prob.grad.tolist() == [-0.25, 0.25]  # descent raises the better output's log-probability


def test_exact_match_and_sequence_rewards():
    assert exact_match(torch.tensor([[1, 2], [1, 3]]), torch.tensor([[1, 2], [1, 2]])).tolist() == [1.0, 0.0]
    fraction = torch.tensor([1.0, 0.5])
    assert sequence_reward(fraction, "exact").tolist() == [1.0, 0.0]
    assert sequence_reward(fraction, "tokens").tolist() == [1.0, 0.5]


def test_supervised_transformer_trains_on_reverse_and_reinforce_starts_from_it():
    agent = Supervised("gymlab/Reverse-v0", seed=0, device="cpu", **SMALL, batch_size=128, epochs=1)
    assert isinstance(agent.model, Seq2SeqTransformer)
    logged = []
    agent.learn(callback=lambda a, m: logged.append(m))
    assert np.isfinite(logged[-1]["train/loss"]) and 0 < logged[-1]["eval/accuracy"] <= 1
    obs = torch.tensor(load_task("reverse", "test").x[:4])
    labels = agent.act(obs, deterministic=True)
    assert labels.shape == (4, 9) and torch.equal(labels, greedy_decode(agent.model, obs)[0])
    learner = SequenceReinforce("gymlab/Reverse-v0", seed=0, device="cpu", **SMALL, batch_size=64, total_steps=128)
    assert learner.init_from(agent) == []  # the whole network fits
    torch.testing.assert_close(learner.model.state_dict(), agent.model.state_dict())
    metrics = []
    learner.learn(callback=lambda a, m: metrics.append(m))
    assert learner.num_timesteps == 128 and 0 <= metrics[-1]["eval/reward"] <= 1


def test_transformer_needs_a_seq2seq_task():
    with pytest.raises(ValueError, match="net=transformer needs a sequence-to-sequence task"):
        Supervised("gymlab/Digits-v0", net="transformer")
