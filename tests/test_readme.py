"""The README's Python example runs as printed and reaches what it promises."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(heading: str) -> str:
    """The first ```python block under the README section ``heading``."""
    section = README.read_text().split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_example_solves_cartpole(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_block("Using it from Python"), "README.md", "exec"), namespace)
    assert "{'mean_reward': 500.0" in capsys.readouterr().out
    assert namespace["agent"].num_timesteps >= 100_000
    assert namespace["logits"].shape == (1, 2)
    assert (tmp_path / "runs" / "my-ppo" / "config.json").is_file()
