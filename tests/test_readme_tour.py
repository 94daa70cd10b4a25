"""The README's CLI tour, run top to bottom as a new user would, with small --steps (slow).

Every ``$ gymlab ...`` line of the tour runs in a fresh folder. Budgets shrink (``--steps``,
``--episodes``, ``--seeds``); run directories the README names by date
(``runs/CartPole-v1/ppo-s0-20261121-190645``) become the newest run of that agent and env, trained
on the spot when the tour has none yet; ``RUN_DIR`` is the run made last; an SB3 model the tour
assumes (``ppo-LunarLander-v3.zip``) is exported from such a run. A command followed in the README
by ``gymlab ...: error: MESSAGE`` must fail with exit code 2 and exactly that message.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gymlab import cli

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = 4096  # steps per training command
SKIP = {"board"}  # a server that runs until stopped
DATED_RUN = re.compile(r"runs/([^/\s]+)/([a-z0-9]+)-s(\d+)-(?:\d{8}-\d{6}|\.\.\.)")  # dated, or elided
MODEL_ZIP = re.compile(r"([a-z0-9]+)-(.+)\.zip")


def tour() -> list[tuple[str, str | None]]:
    """(command, expected error or None) for every ``$`` line of the tour's console blocks."""
    text = README.read_text()
    section = text.split("## A tour of the CLI", 1)[1].split("\n## ", 1)[0]
    commands: list[tuple[str, str | None]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("$ "):
                continue
            command = re.sub(r"\s+#.*$", "", line[2:]).strip()
            following = lines[i + 1] if i + 1 < len(lines) else ""
            error = following.split(": error: ", 1)[1] if re.match(r"gymlab \w+: error: ", following) else None
            commands.append((command, error))
    return commands


class Tour:
    """Runs the tour's commands in the current folder, shrinking budgets and resolving names."""

    def __init__(self, capsys):
        self.capsys, self.last_run = capsys, None

    def gymlab(self, argv: list[str]) -> tuple[int, str, str]:
        code = cli.main(argv)
        out, err = self.capsys.readouterr()
        found = re.search(r"^run:\s+(\S+)", out, re.M)
        if found:
            self.last_run = found.group(1)
        return code, out, err

    def run_of(self, env_id: str, agent: str) -> str:
        """The newest run of ``agent`` on ``env_id``, trained now if there is none."""
        runs = sorted(Path("runs", env_id.replace("/", "_")).glob(f"{agent}-s0-*"))
        if runs:
            return str(runs[-1])
        code, out, err = self.gymlab(["train", agent, env_id, "--steps", str(SMALL), "--quiet"])
        assert code == 0, err
        return re.search(r"^run:\s+(\S+)", out, re.M).group(1)

    def model(self, name: str) -> str:
        """An SB3 model file the tour assumes, exported from a run of its agent and env."""
        if not Path(name).exists():
            agent, env_id = MODEL_ZIP.fullmatch(name).groups()
            code, _, err = self.gymlab(["export", self.run_of(env_id, agent), name])
            assert code == 0, err
        return name

    def argv(self, tokens: list[str]) -> list[str]:
        """The command's arguments with small budgets and real names."""
        out: list[str] = []
        for token in tokens:
            dated = DATED_RUN.fullmatch(token)
            if dated:
                token = self.run_of(dated.group(1), dated.group(2))
            elif token == "RUN_DIR":
                token = self.last_run
            elif MODEL_ZIP.fullmatch(token) and tokens[0] != "export":
                token = self.model(token)
            out.append(token)
        budgets = {"--steps": 2 * SMALL if "--resume" in out else SMALL, "--episodes": 2, "--seeds": 2,
                   "--eval-every": SMALL // 4}  # fmt: skip
        for flag, small in budgets.items():
            if flag in out:
                i = out.index(flag) + 1
                out[i] = str(min(float(out[i]), small)).removesuffix(".0")
        if out[0] in ("train", "sweep") and "--steps" not in out:
            out += ["--steps", str(SMALL)]
        if out[0] == "train":
            out.append("--quiet")
        return out


@pytest.mark.slow
def test_the_cli_tour_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runner = Tour(capsys)
    commands = tour()
    assert len(commands) >= 20, "the tour lost its commands"
    ran = 0
    for command, error in commands:
        tokens = shlex.split(command)
        if tokens[0] == "python":  # a user's own check, e.g. loading an export in SB3
            result = subprocess.run([sys.executable, *tokens[1:]], capture_output=True, text=True)
            assert result.returncode == 0, f"{command}\n{result.stderr}"
            continue
        if tokens[0] != "gymlab" or tokens[1] in SKIP:
            continue
        code, out, err = runner.gymlab(runner.argv(tokens[1:]))
        ran += 1
        if error is None:
            assert code == 0, f"{command}\n{err}"
        else:
            assert (code, err.strip()) == (2, f"gymlab {tokens[1]}: error: {error}"), command
    assert ran >= len(commands) - 3  # all but `board` and the shell's `head`
