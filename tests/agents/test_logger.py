"""RunLogger batches scalars until a flush, and loses none of them at close."""

import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.logger import RunLogger, read_scalars


def test_scalars_reach_the_events_file_at_flush_and_at_close(tmp_path):
    logger = RunLogger(tmp_path)
    logger.scalars({"train/loss": 1.0, "train/nan": float("nan")}, step=10)
    assert len(logger.pending) == 1 and read_scalars(tmp_path) == {}  # held back: no writer wake-up per event
    logger.flush()
    assert logger.pending == [] and read_scalars(tmp_path) == {"train/loss": ([10], [1.0])}
    logger.scalars({"train/loss": 0.5}, step=20)
    logged_at = logger.pending[0][2]
    time.sleep(0.05)
    logger.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.Scalars("train/loss")[1].wall_time == pytest.approx(logged_at)  # when logged, not when flushed
    assert read_scalars(tmp_path)["train/loss"] == ([10, 20], [1.0, 0.5])  # non-finite values are skipped
