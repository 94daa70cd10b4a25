"""Lecture: sequence to sequence (HW5's transformer: teacher forcing, the causal mask, beam search).

Claim: an encoder-decoder transformer trained with teacher forcing reverses variable-length token
sequences (>= 95% of test outputs exactly right, greedy decoding); trained *without* the causal
mask it gets < 20% exactly right at inference, when the decoder writes one token at a time and
the tokens it learned to peek at do not exist yet; beam search (5 beams)
is at least as good as greedy decoding.

Task: ``gymlab/Reverse-v0``: 1-8 symbols, PAD-padded, to the same symbols reversed, then EOS
and PAD (9 output tokens).

Arms (supervised learner, ``net=transformer``, one run each under the seed's folder):

- ``greedy``: the model trained with the causal mask, decoded greedily;
- ``beam 5``: the same model, decoded by beam search with 5 beams;
- ``no causal mask``: the same network and settings trained without the mask
  (``causal_mask=false``), decoded greedily. In quick mode it trains for ``NO_MASK_QUICK_EPOCHS``
  epochs only, to fit the time budget; its teacher-forced token accuracy (about 0.66) is then
  already far above its inference accuracy, and training longer teaches it to peek more.

Figures on the test split: ``exact_match`` (every output token right), ``token_accuracy``, and
``teacher_forced`` (token accuracy when the decoder reads the true previous tokens, the number
training optimises). The plot shows exact match per input length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.seq2seq import beam_search, exact_match, greedy_decode
from agents.supervised import Supervised
from lectures.runner import Lecture, Panel, Table, Trial, register
from supervised.datasets import load_task
from supervised.tasks import PAD

ENV_ID = "gymlab/Reverse-v0"
SETTINGS = {"net": "transformer", "d_model": 64, "n_heads": 4, "n_layers": 1, "batch_size": 128,
            "learning_rate": 5e-3, "lr_schedule": "cosine", "lr_warmup": 0.05, "patience": 0}  # fmt: skip
EPOCHS, QUICK_EPOCHS = 30, 12
NO_MASK_QUICK_EPOCHS = 2
BEAM = 5


@torch.no_grad()
def decoding_figures(model, split: str = "test", beam_size: int = 1) -> tuple[dict[str, float], np.ndarray]:
    """Exact match, token accuracy and teacher-forced token accuracy of ``model`` on ``split``
    of reverse (greedy for ``beam_size`` 1, beam search otherwise), and exact match per input
    length 1..8 (a row of the plot)."""
    data = load_task("reverse", split)
    x, y = torch.from_numpy(data.x.copy()), torch.from_numpy(data.y.copy())  # (N, 8, 10), (N, 9)
    tokens = greedy_decode(model, x)[0] if beam_size == 1 else beam_search(model, x, beam_size)[0]  # (N, 9)
    exact = exact_match(tokens, y)  # (N,)
    teacher_forced = model(x, y).argmax(dim=-1)  # (N, 9): each token given the true ones before it
    lengths = (x.argmax(dim=-1) != PAD).sum(dim=1)  # (N,) symbols per input
    per_length = np.array([exact[lengths == n].mean().item() for n in range(1, x.shape[1] + 1)])
    figures = {
        "exact_match": exact.mean().item(),
        "token_accuracy": (tokens == y).float().mean().item(),
        "teacher_forced": (teacher_forced == y).float().mean().item(),
    }
    return figures, per_length


def experiment(quick: bool, seed: int, out: Path) -> Trial:
    """One seed: train with and without the causal mask; decode the test split three ways."""
    epochs = QUICK_EPOCHS if quick else EPOCHS
    masked = Supervised(ENV_ID, seed=seed, **SETTINGS, epochs=epochs)
    masked.learn(run_dir=out / "causal-mask")
    unmasked = Supervised(ENV_ID, seed=seed, **SETTINGS, epochs=NO_MASK_QUICK_EPOCHS if quick else epochs,
                          causal_mask=False)  # fmt: skip
    unmasked.learn(run_dir=out / "no-causal-mask")
    arms = {"greedy": (masked, 1), f"beam {BEAM}": (masked, BEAM), "no causal mask": (unmasked, 1)}
    figures, per_length = {}, {}
    for arm, (agent, beam_size) in arms.items():
        figures[arm], per_length[arm] = decoding_figures(agent.model, "test", beam_size)
    lengths = np.arange(1, len(per_length["greedy"]) + 1)
    panel = Panel("reverse: test outputs exactly right", {arm: (lengths, row) for arm, row in per_length.items()},
                  "input length", "exact match")  # fmt: skip
    return Trial(figures, [panel], runs=[str(out / "causal-mask"), str(out / "no-causal-mask")])


def condition(table: Table) -> bool:
    """Means over seeds: greedy exact match >= 0.95, no causal mask < 0.20, beam 5 >= greedy."""
    greedy = table.mean("greedy", "exact_match")
    return (
        greedy >= 0.95
        and table.mean("no causal mask", "exact_match") < 0.20
        and table.mean(f"beam {BEAM}", "exact_match") >= greedy
    )


LECTURE = register(
    Lecture(
        name="seq2seq",
        homework="HW5: sequence to sequence (transformer)",
        claim="A teacher-forced encoder-decoder transformer reverses sequences (>= 95% exactly right); "
        "trained without the causal mask it fails at inference (< 20%); beam 5 >= greedy.",
        arms=("greedy", f"beam {BEAM}", "no causal mask"),
        experiment=experiment,
        condition=condition,
        condition_text="test exact match, means: greedy >= 0.95, no causal mask < 0.20, beam 5 >= greedy",
    )
)
