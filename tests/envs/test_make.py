"""envs.make: what it takes to run an env here (optional dependencies, headless rendering) and
the checks on --env-kwargs values against the constructor's defaults."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import make

HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None


def test_text_where_the_default_is_a_bool_or_a_number_is_refused():
    with pytest.raises(ValueError, match=r"takes enable_wind as true or false \(default false\), not the text 'yes'"):
        envs.make_env("LunarLander-v3", enable_wind="yes")
    with pytest.raises(ValueError, match=r"takes turbulence_power as a number \(default 1.5\), not the text '2'"):
        envs.make_env("LunarLander-v3", turbulence_power="2")
    with pytest.raises(ValueError, match=r"FrozenLake-v1 takes is_slippery as true or false \(default true\)"):
        envs.make_env("FrozenLake-v1", is_slippery="no")


def test_values_of_the_defaults_type_and_text_defaults_are_accepted():
    env = envs.make_env("LunarLander-v3", enable_wind=True, wind_power=5)  # an int where the default is a float
    assert env.unwrapped.enable_wind is True and env.unwrapped.wind_power == 5
    env = envs.make_env("FrozenLake-v1", map_name="8x8")  # the default is text
    assert env.observation_space.n == 64


def test_constructor_defaults_include_the_registrations_own_kwargs():
    assert make.constructor_defaults("LunarLander-v3")["continuous"] is False
    assert make.constructor_defaults("LunarLanderContinuous-v3")["continuous"] is True
    with pytest.raises(ValueError, match="takes continuous as true or false \\(default true\\)"):
        envs.make_env("LunarLanderContinuous-v3", continuous="false")


def test_a_missing_optional_dependency_is_one_line_naming_the_pip_command(monkeypatch):
    monkeypatch.setitem(
        make.OPTIONAL_DEPENDENCIES, "gymnasium.envs.mujoco", ("no_such_module", 'pip install "gymnasium[mujoco]"')
    )
    assert make.missing_dependency("Hopper-v5") == 'pip install "gymnasium[mujoco]"'
    with pytest.raises(ValueError, match=r'^Hopper-v5 cannot run here: pip install "gymnasium\[mujoco\]"$'):
        envs.make_env("Hopper-v5")
    assert make.missing_dependency("CartPole-v1") is None
    assert "use the v5 ids" in make.missing_dependency("Hopper-v3")


def test_mujoco_renders_headless_with_egl_unless_the_user_chose():
    code = "import os; os.environ.pop('MUJOCO_GL', None); import envs; print(os.environ['MUJOCO_GL'])"
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "egl"
    code = "import envs, os; print(os.environ['MUJOCO_GL'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "MUJOCO_GL": "osmesa"}).stdout  # fmt: skip
    assert out.strip() == "osmesa"


class Unrenderable(gym.Env):
    """An env whose renderer cannot start (as MuJoCo without EGL)."""

    observation_space = gym.spaces.Box(-1, 1, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, np.float32), {}

    def render(self):
        raise AttributeError("'NoneType' object has no attribute 'glGetError'")


def test_check_rendering_says_how_to_fix_it():
    with pytest.raises(ValueError) as error:
        make.check_rendering(Unrenderable())
    message = str(error.value)
    assert "\n" not in message and "glGetError" in message and "libegl1" in message and "MUJOCO_GL=osmesa" in message


@pytest.mark.skipif(not HAS_MUJOCO, reason="gymnasium[mujoco] not installed")
@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"])
def test_mujoco_envs_render_frames(env_id):
    env = envs.make_env(env_id, render_mode="rgb_array")
    make.check_rendering(env)
    frame = env.render()
    env.close()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8 and frame.std() > 0
