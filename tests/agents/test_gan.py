"""Tests for agents.gan: the adversarial losses and reward, the Fréchet distance and diversity
figures, and a GAN that trains, logs its samples and saves/loads."""

import math

import numpy as np
import pytest
import torch

from agents import gan
from agents.gan import (
    GAN,
    Discriminator,
    GANConfig,
    adversarial_reward,
    class_diversity,
    discriminator_accuracy,
    discriminator_loss,
    ema_decay_at,
    ema_update,
    frechet_distance,
    generator_loss,
    gradient_penalty,
    image_grid,
)

DIGITS = "gymlab/Digits-v0"


@pytest.fixture
def quick_judge(monkeypatch):
    """A judge classifier trained for a few epochs only (the real one takes a few seconds)."""
    monkeypatch.setattr(gan, "JUDGE_CONFIG", {"net": "mlp", "hidden": [64, 32], "epochs": 3, "patience": 0})
    gan.judge_for.cache_clear()
    yield
    gan.judge_for.cache_clear()


# ----------------------------------------------------------------------------- losses
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


def test_ema_update_known_answers():
    model, average = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0), model.bias.fill_(3.0)
        average.weight.fill_(0.0), average.bias.fill_(-1.0)
    ema_update(average, model, 0.75)
    torch.testing.assert_close(average.weight, torch.full((1, 2), 0.25))
    torch.testing.assert_close(average.bias, torch.tensor([0.0]))
    ema_update(average, model, 0.0)  # decay 0 copies the weights
    torch.testing.assert_close(average.weight, model.weight)
    # warm-up: the first averages follow the weights, later ones reach the asked-for decay
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 90) == pytest.approx(0.91)
    assert ema_decay_at(0.999, 10**6) == 0.999
    assert ema_decay_at(0.0, 10**6) == 0.0


# ----------------------------------------------------------------------------- evaluation
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


# ----------------------------------------------------------------------------- the learner
@pytest.mark.parametrize("loss", ["standard", "wgan-gp"])
def test_gan_trains_and_logs_samples(tmp_path, loss):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    config = GANConfig(
        total_steps=64 * 8, n_envs=64, loss=loss, disc_steps=2, sample_every=2, hidden=[32], disc_hidden=[32]
    )
    agent = GAN(DIGITS, config, seed=0, device="cpu")
    writer = SummaryWriter(str(tmp_path))
    agent.attach_run(tmp_path, writer)
    seen = []
    agent.learn(callback=lambda a, m: seen.append(m))
    writer.close()
    assert agent.num_timesteps == 64 * 8 and len(seen) == 4
    assert {"train/disc_loss", "train/gen_loss", "train/disc_real_acc", "train/disc_fake_acc"} <= set(seen[-1])
    assert all(math.isfinite(m["train/disc_loss"]) for m in seen)
    assert (tmp_path / "samples.png").stat().st_size > 0
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert "samples/generated" in events.Tags()["images"]
    samples = agent.predict(np.zeros((3, 1, 8, 8), dtype=np.float32))
    assert samples.shape == (3, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1


def test_gan_samples_from_the_moving_average_of_its_generator():
    config = GANConfig(total_steps=64 * 20, ema_decay=0.9, hidden=[16], disc_hidden=[16])
    agent = GAN(DIGITS, config, seed=0, device="cpu")
    before = [p.clone() for p in agent.ema_generator.parameters()]
    agent.learn()
    averaged, trained = list(agent.ema_generator.parameters()), list(agent.generator.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(averaged, before)), "the average never moved"
    assert all(not torch.equal(a, w) for a, w in zip(averaged, trained)), "the average is the weights"
    assert not any(p.requires_grad for p in averaged)
    z = agent.noise(5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(agent.sample(5, torch.Generator().manual_seed(3)), agent.ema_generator(z))
    # ema_decay = 0: the average is the trained generator itself
    plain = GAN(DIGITS, GANConfig(total_steps=64 * 4, ema_decay=0.0, hidden=[16], disc_hidden=[16]), device="cpu")
    plain.learn()
    z = plain.noise(5)
    torch.testing.assert_close(plain.ema_generator(z), plain.generator(z))
    with pytest.raises(ValueError, match="ema_decay must be in"):
        GANConfig(ema_decay=1.0).check()


def test_gan_state_dict_round_trip():
    config = GANConfig(total_steps=128, hidden=[16], disc_hidden=[16])
    agent = GAN(DIGITS, config, seed=0, device="cpu")
    agent.learn()
    assert "ema_generator" in agent.state_dict()["modules"]
    clone = GAN(DIGITS, config, seed=1, device="cpu")
    clone.load_state_dict(agent.state_dict())
    z = torch.randn(4, config.z_dim)
    torch.testing.assert_close(clone.generator(z), agent.generator(z))
    torch.testing.assert_close(clone.ema_generator(z), agent.ema_generator(z))
    torch.testing.assert_close(
        clone.sample(4, torch.Generator().manual_seed(0)), agent.sample(4, torch.Generator().manual_seed(0))
    )
    assert clone.num_timesteps == agent.num_timesteps


def test_gan_conv_networks():
    config = GANConfig(total_steps=64 * 2, net="conv", channels=8, disc_hidden=[16])
    agent = GAN(DIGITS, config, seed=0, device="cpu")
    assert isinstance(agent.discriminator, gan.ConvDiscriminator)
    agent.learn()
    samples = agent.sample(5)
    assert samples.shape == (5, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert agent.discriminator(samples).shape == (5,)
    with pytest.raises(ValueError, match="net=conv generates images"):
        GAN("gymlab/Diabetes-v0", GANConfig(net="conv"), device="cpu")


def test_gan_rejects_envs_without_a_dataset():
    with pytest.raises(ValueError, match="gan learns the inputs of a dataset env"):
        GAN("CartPole-v1", GANConfig(), device="cpu")


def test_gan_evaluate_reports_the_course_metrics(quick_judge):
    agent = GAN(DIGITS, GANConfig(hidden=[16], disc_hidden=[16]), seed=0, device="cpu")
    stats = agent.evaluate()
    assert stats["mean_reward"] == -stats["frechet_distance"]
    # an untrained generator is far from the data; real held-out data is close (the floor)
    assert stats["frechet_floor"] < stats["frechet_distance"]
    assert stats["frechet_floor"] < stats["frechet_noise"]
    assert 0 <= stats["class_entropy"] <= math.log(10) + 1e-9
    assert 0.5 < stats["judge_test_accuracy"] <= 1.0 and 0 <= stats["confident_fraction_real"] <= 1
    assert all(isinstance(v, float) for v in stats.values())


def test_gan_through_the_cli(tmp_path, quick_judge, capsys):
    from gymlab.cli import main

    run = tmp_path / "run"
    assert main(["train", "gan", DIGITS, "--steps", "256", "--run-dir", str(run), "--quiet",
                 "--set", "hidden=16", "--set", "disc_hidden=16"]) == 0  # fmt: skip
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "frechet_distance" in out and "frechet_floor" in out and "class_entropy" in out
    assert main(["train", "gan", DIGITS, "--set", "loss=minimax", "--run-dir", str(tmp_path / "x")]) == 2
    assert "loss must be one of standard, wgan-gp" in capsys.readouterr().err


@pytest.mark.slow
def test_gan_preset_learns_the_digits():
    """The preset (2.4e6 real samples, ~9 CPU-minutes): close to the data, all classes, and as
    many confident samples as bench.gan asks for (0.92-0.94 measured; real held-out digits: 0.98)."""
    from gymlab import train

    agent = train.build_new("gan", DIGITS, seed=0, device="cpu")
    agent.learn()
    stats = agent.evaluate()
    assert stats["frechet_distance"] <= 3 * stats["frechet_floor"], stats
    assert stats["classes_generated"] == 10 and stats["class_entropy"] >= 0.9 * math.log(10), stats
    assert stats["confident_fraction"] >= 0.9, stats
