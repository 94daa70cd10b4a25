"""Tests for agents.adversarial: the discriminator's and generator's losses, the gradient
penalty and the reward, against hand-computed values, and a discriminator that learns."""

import math

import pytest
import torch

from agents.adversarial import (
    ConvDiscriminator,
    Discriminator,
    adversarial_reward,
    discriminator_accuracy,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)


def test_losses_known_answers():
    zero = torch.zeros(4)
    # D = 1/2 everywhere: -log(1/2) for each of the two cross-entropy terms
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 0.0])
    assert discriminator_loss(real, fake, "wgan-gp").item() == pytest.approx(-0.5 - 2.0)
    assert generator_loss(fake, "wgan-gp").item() == pytest.approx(0.5)
    # non-saturating: a rejected sample (D -> 0) still gets a large loss and gradient
    assert generator_loss(torch.tensor([-10.0])).item() == pytest.approx(10.0, abs=1e-3)
    with pytest.raises(ValueError, match="loss must be one of"):
        discriminator_loss(zero, zero, "hinge")


def test_rewards_known_answers():
    logits = torch.tensor([-2.0, 0.0, 2.0])
    d = torch.sigmoid(logits)
    torch.testing.assert_close(adversarial_reward(logits, "positive"), -torch.log(1 - d))
    torch.testing.assert_close(adversarial_reward(logits, "logit"), torch.log(d) - torch.log(1 - d))
    assert discriminator_accuracy(torch.tensor([1.0, -1.0]), torch.tensor([-1.0, -2.0])) == (0.5, 1.0)


def test_gradient_penalty_of_a_linear_critic():
    critic = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))  # |grad| = 2 everywhere
    penalty = gradient_penalty(lambda x: critic(x).squeeze(-1), torch.randn(5, 3), torch.randn(5, 3))
    assert penalty.item() == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["positive", "logit"])
def test_discriminator_reward_moves_toward_the_real_data(kind):
    """Trained on real ~ N(+2, 1) against fake ~ N(-2, 1), the reward rises toward real data."""
    torch.manual_seed(0)
    disc = Discriminator(1, [16], "tanh")
    optimizer = torch.optim.Adam(disc.parameters(), lr=1e-2)
    for _ in range(200):
        real, fake = torch.randn(64, 1) + 2, torch.randn(64, 1) - 2
        loss = discriminator_loss(disc(real), disc(fake))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        reward = adversarial_reward(disc(torch.linspace(-3, 3, 7)[:, None]), kind)  # (7,)
    assert (reward.diff() > 0).all(), reward
    assert loss.item() < 0.2


def test_standard_losses_by_hand():
    """Cross-entropy with D = sigmoid(logit), computed term by term."""
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    assert discriminator_loss(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert generator_loss(fake).item() == pytest.approx(-torch.log(d_fake).mean().item(), rel=1e-6)
    assert generator_loss(fake, "wgan-gp").item() == pytest.approx(1.25)
    with pytest.raises(ValueError, match="reward must be one of positive, logit"):
        adversarial_reward(real, "negative")


def test_discriminators_give_one_logit_per_input():
    assert Discriminator(6, [8], "tanh")(torch.randn(5, 2, 3)).shape == (5,)  # flattened
    assert ConvDiscriminator((1, 8, 8), 16)(torch.rand(5, 1, 8, 8)).shape == (5,)
