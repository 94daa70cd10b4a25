"""Games from pixels: the Atari pipeline's shapes and bookkeeping, MinAtar, the network's view."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from agents.networks import preprocess
from envs import pixels


class ScriptedGame(gym.Env):
    """A tiny game with lives: rewards and life losses follow a script; the game ends with it.
    ``unwrapped.ale.lives()`` as ALE's."""

    observation_space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, rewards, lives_after, start_lives):
        self.rewards, self.lives_after = rewards, lives_after  # per step: reward, lives left after it
        self.start_lives = start_lives
        self.ale = self
        self.t, self.resets = 0, 0

    def lives(self) -> int:
        return self.lives_after[self.t - 1] if self.t else self.start_lives

    def reset(self, *, seed=None, options=None):
        self.t, self.resets = 0, self.resets + 1
        return np.zeros((2, 2), np.uint8), {}

    def step(self, action):
        reward = self.rewards[self.t]
        self.t += 1
        return np.full((2, 2), self.t, np.uint8), float(reward), self.t == len(self.rewards), False, {}


def test_episodic_life_ends_the_learners_episode_and_the_game_score_counts_whole_games():
    # 3 lives, lost after script steps 2 and 4; the game ends after step 6. After a lost life the
    # game goes on with one no-op (steps 3 and 5), which the learner does not see.
    game = ScriptedGame(rewards=[0, 4, 1, 0, 2, 1], lives_after=[3, 2, 2, 1, 1, 0], start_lives=3)
    env = gym.wrappers.ClipReward(pixels.EpisodicLife(pixels.GameScore(game)), -1.0, 1.0)
    env.reset(seed=0)
    episodes, rewards, games = [], [], []
    length = 0
    while not games:
        _, reward, terminated, truncated, info = env.step(0)
        rewards.append(reward)
        length += 1
        if "episode" in info:
            games.append(info["episode"])
        if terminated or truncated:
            episodes.append(length)
            length = 0
            env.reset()
    assert episodes == [2, 1, 1]  # the learner's episodes end at each lost life
    assert rewards == [0, 1, 0, 1]  # clipped for the learner (script steps 1, 2, 4, 6)
    assert games == [{"r": 8.0, "l": 6, "game": True}]  # one whole game: its raw score and frames
    assert game.resets == 2  # the first reset and the one after the game over; lost lives only continue


def test_game_episodes_log_whole_games_in_a_vector_env():
    def make():
        return pixels.EpisodicLife(pixels.GameScore(ScriptedGame([1, 2, 3, 4], [2, 1, 1, 0], start_lives=2)))

    vec = pixels.GameEpisodes(envs.native.SerialVectorEnv([make, make]))
    vec.reset(seed=0)
    logged = []
    for _ in range(4):
        *_, info = vec.step(np.zeros(2, dtype=np.int64))
        if "_episode" in info:
            logged += [float(info["episode"]["r"][i]) for i in np.flatnonzero(info["_episode"])]
    # vector step 2 loses a life (the learner's episode ends, nothing is logged), step 3 ends the
    # game: 1 + 2 + 3 (the no-op) + 4; step 4 starts the next game
    assert logged == [10.0, 10.0]


@pytest.fixture(scope="module")
def breakout():
    if not envs.make.register_atari():
        pytest.skip("ale-py is not installed")
    return "ALE/Breakout-v5"


def test_atari_pipeline_shapes_dtypes_and_full_resolution_frames(breakout):
    train = envs.make_env(breakout, training=True)
    test = envs.make_env(breakout, render_mode="rgb_array")
    try:
        obs, _ = train.reset(seed=0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        assert train.observation_space == test.observation_space
        obs, reward, *_ = train.step(3)
        assert obs.dtype == np.uint8 and -1.0 <= reward <= 1.0
        test.reset(seed=0)
        assert test.render().shape == (210, 160, 3)  # the game's own frames, not the network's input
        names = [type(e).__name__ for e in _wrappers(train)]
        assert names[:2] == ["FrameStackObservation", "ClipReward"] and "EpisodicLife" in names
        assert "EpisodicLife" not in [type(e).__name__ for e in _wrappers(test)]
    finally:
        train.close()
        test.close()


def _wrappers(env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


def test_atari_vector_env_logs_unclipped_game_scores(breakout):
    vec = envs.make_vec_env(breakout, 2, vectorization="sync")
    try:
        vec.reset(seed=0)
        vec.action_space.seed(0)
        scores = []
        for _ in range(1500):
            *_, info = vec.step(vec.action_space.sample())
            if "_episode" in info:
                scores += [(float(info["episode"]["r"][i]), int(info["episode"]["l"][i])) for i in np.flatnonzero(info["_episode"])]  # fmt: skip
        assert scores, "no game ended in 1500 steps"
        assert all(length > 100 for _, length in scores)  # whole games (5 lives), counted in frames
    finally:
        vec.close()


def test_missing_ale_py_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ale_py" else real(name, *a))
    with pytest.raises(ValueError, match=r"^ALE/NotAGame-v5 cannot run here: pip install ale-py$"):
        envs.check_env_id("ALE/NotAGame-v5")


def test_minatar_is_channel_first_uint8_seeded_and_renders():
    pytest.importorskip("minatar")
    a, b = envs.make_env("MinAtar/Breakout-v1", render_mode="rgb_array"), envs.make_env("MinAtar/Breakout-v1")
    obs_a, _ = a.reset(seed=3)
    obs_b, _ = b.reset(seed=3)
    assert obs_a.shape == (4, 10, 10) and obs_a.dtype == np.uint8 and set(np.unique(obs_a)) <= {0, 1}
    assert a.observation_space.contains(obs_a)
    for action in [0, 1, 2, 2, 1, 0, 0, 2]:
        obs_a, ra, *_ = a.step(action)
        obs_b, rb, *_ = b.step(action)
        assert np.array_equal(obs_a, obs_b) and ra == rb
    frame = a.render()
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8 and frame.max() > 0


def test_uint8_observations_are_scaled_by_their_range():
    camera = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    board = gym.spaces.Box(0, 1, (4, 10, 10), np.uint8)
    assert float(preprocess(torch.full((1, 4, 84, 84), 255, dtype=torch.uint8), camera).max()) == 1.0
    assert float(preprocess(torch.ones((1, 4, 10, 10), dtype=torch.uint8), board).max()) == 1.0


def test_network_view_draws_the_newest_input_frame_beside_the_game():
    stack = np.zeros((4, 10, 10), np.uint8)
    stack[-1, 0, 0] = 255
    view = pixels.network_view(stack, height=40)
    assert view.shape == (40, 40, 3) and view[:4, :4].min() == 255 and view[4:, 4:].max() == 0
    env = pixels.NetworkView(envs.make_env("MinAtar/Breakout-v1", render_mode="rgb_array"))
    env.reset(seed=0)
    assert env.render().shape == (160, 320, 3)
    with pytest.raises(ValueError, match="needs image observations"):
        pixels.NetworkView(envs.make_env("CartPole-v1", render_mode="rgb_array"))


@pytest.mark.slow
def test_ppo_beats_random_play_on_minatar_breakout():
    from agents import PPO

    agent = PPO("MinAtar/Breakout-v1", seed=0, total_steps=200_000).learn()
    env = envs.make_env("MinAtar/Breakout-v1")
    rng = np.random.default_rng(0)
    random_returns = []
    for episode in range(50):
        env.reset(seed=1000 + episode)
        done, total = False, 0.0
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            total, done = total + reward, terminated or truncated
        random_returns.append(total)
    trained = agent.evaluate(20, deterministic=False, seed=1000)["mean_reward"]
    assert trained >= 4 * max(np.mean(random_returns), 0.25), (trained, np.mean(random_returns))
