"""gymlab board: the URL, and none of TensorBoard's start-up notices."""

from __future__ import annotations

import io
import sys

from gymlab.cli import BOARD_NOISE, NoiseFilter, board_command

TENSORBOARD_START = """TensorFlow installation not found - running with reduced feature set.

NOTE: Using experimental fast data loading logic. To disable, pass
    "--load_fast=false" and report issues on GitHub. More details:
    https://github.com/tensorflow/tensorboard/issues/4784

TensorBoard 2.21.0 at http://127.0.0.1:6006/ (Press CTRL+C to quit)
"""


def test_tensorboards_notices_are_filtered_and_its_url_kept():
    out = io.StringIO()
    stream = NoiseFilter(out)
    for part in (TENSORBOARD_START[:30], TENSORBOARD_START[30:]):  # lines may arrive in pieces
        stream.write(part)
    stream.write("E1203 a real error\n")
    assert out.getvalue() == "TensorBoard 2.21.0 at http://127.0.0.1:6006/ (Press CTRL+C to quit)\nE1203 a real error\n"
    assert len(BOARD_NOISE) == 4


def test_board_runs_tensorboard_through_the_filter(tmp_path):
    cmd = board_command([str(tmp_path)], 6007, "127.0.0.1")
    assert cmd[:3] == [sys.executable, "-c", "from gymlab.cli import run_tensorboard; run_tensorboard()"]
    assert cmd[3:] == ["--port", "6007", "--host", "127.0.0.1", "--logdir", str(tmp_path)]
