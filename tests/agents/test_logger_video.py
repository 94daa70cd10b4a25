"""agents.logger.gif_bytes: the TensorBoard GIF of a recording, shrunk and thinned so that
encoding it costs a fraction of recording, playing at the env's speed."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from agents.logger import GIF_FRAMES, GIF_WIDTH, gif_bytes


def frames(n: int, height: int, width: int) -> np.ndarray:
    """``n`` frames ``(n, H, W, 3)``: a white bar moving over black, so no two are alike."""
    out = np.zeros((n, height, width, 3), np.uint8)
    for i in range(n):
        out[i, :, (i * 7) % width] = 255
    return out


def test_long_wide_episodes_are_thinned_and_shrunk_and_play_at_the_envs_speed():
    data, (height, width) = gif_bytes(frames(500, 400, 600), fps=50)
    gif = Image.open(io.BytesIO(data))
    assert data[:6] == b"GIF89a"
    assert (height, width) == (200, 300) == (gif.height, gif.width)  # 600 wide > GIF_WIDTH: every 2nd pixel
    assert gif.n_frames == 250 == GIF_FRAMES  # every 2nd of 500 frames
    assert gif.info["duration"] == 40  # each kept frame stands for 2 frames of 20 ms


def test_short_narrow_episodes_are_kept_whole():
    data, (height, width) = gif_bytes(frames(10, 60, 80), fps=25)
    gif = Image.open(io.BytesIO(data))
    assert (height, width) == (60, 80) and 80 <= GIF_WIDTH
    assert gif.n_frames == 10 and gif.info["duration"] == 40
    gif.seek(3)
    first_row = np.asarray(gif.convert("RGB"))[0]
    assert first_row[21].tolist() == [255, 255, 255] and first_row[0].tolist() == [0, 0, 0]  # frame 3's bar at x = 21
