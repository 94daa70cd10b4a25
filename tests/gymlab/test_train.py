"""`gymlab train`'s own part: --init-from, Ctrl-C and --resume messages."""

from __future__ import annotations

import json

import torch

from agents import runs
from gymlab import train
from gymlab.cli import main


def test_init_from_a_run_copies_the_network_and_nothing_else(tiny_run, tmp_path, capsys):
    _, source = runs.load_run(tiny_run, "cpu")
    for agent_name in ("ppo", "a2c"):  # the same actor-critic layout
        agent = train.build_new(agent_name, "CartPole-v1", device="cpu", sets=["n_steps=32"], init_from=tiny_run)
        for (name, a), (_, b) in zip(agent.policy.state_dict().items(), source.policy.state_dict().items()):
            assert torch.equal(a, b), name
        assert agent.num_timesteps == 0 and not agent.optimizer.state, "counters and optimizer start afresh"
    # the source run was trained with threads=1 and seed 0; the new run keeps seed 3 and 2 threads,
    # and the process keeps its own
    threads, process_rng = torch.get_num_threads(), torch.get_rng_state()
    agent = train.build_new("ppo", "CartPole-v1", seed=3, device="cpu", sets=["threads=2"], init_from=tiny_run)
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), process_rng)
    fresh = train.build_new("ppo", "CartPole-v1", seed=3, device="cpu", sets=["threads=2"])
    assert torch.equal(agent.torch_rng_state(), fresh.torch_rng_state()), "the run's own random stream"
    with agent.own_process_state():
        assert torch.get_num_threads() == 2, "the run's own thread count"

    def refused(env_id: str, *sets: str, source=tiny_run) -> str:
        args = ["train", "ppo", env_id, "--init-from", str(source), "--run-dir", str(tmp_path / "r")]
        assert main([*args, *(x for kv in sets for x in ("--set", kv))]) == 2
        return capsys.readouterr().err

    assert "trained with hidden=64,64, this run hidden=32; train with --set hidden=64,64" in refused(
        "CartPole-v1", "hidden=32"
    )
    assert "activation=tanh, this run activation=relu" in refused("CartPole-v1", "activation=relu")
    assert "normalize_reward=false, this run normalize_reward=true" in refused("CartPole-v1", "normalize_reward=true")
    assert "was trained on CartPole-v1, observing Box(4,) and acting in Discrete(2)" in refused("Pendulum-v1")
    assert "does not exist" in refused("CartPole-v1", source=tmp_path / "none")
    assert not (tmp_path / "r").exists()


def test_ctrl_c_names_the_checkpoint_and_resume_names_its_step(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "gymlab", "train", "ppo", "CartPole-v1", "--run-dir", str(run_dir),
           "--steps", "1e6", "--set", "checkpoint_every=1_024", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latest = run_dir / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not latest.exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    step = json.loads(latest.read_text())["num_timesteps"]
    checkpoint = run_dir / "checkpoints" / f"step-{step:010d}.pt"
    assert f"interrupted at step {step}; checkpoint {checkpoint}" in err
    assert f"gymlab train --resume {run_dir}" in err
    result = subprocess.run([*cmd[:4], "--resume", str(run_dir), "--steps", str(step + 256), "--quiet"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0 and f"resuming {run_dir} from step {step}" in result.stderr
