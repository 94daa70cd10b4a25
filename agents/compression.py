"""Network compression (HW13): magnitude pruning, uniform quantisation and weight clustering, and
the learner that holds a compressed run.

The methods act on the weight matrices and convolution kernels of a trained model (every
parameter with two or more dimensions); biases and other vectors stay float32.

- **Pruning** (:func:`magnitude_masks`, :func:`structured_mask`): the ``1 - amount`` fraction of
  all weights with the largest magnitude is kept (unstructured, one threshold for every layer),
  or each weight tensor keeps that fraction of its output units (rows of a matrix, filters of a
  kernel) with the largest L2 norm (structured; the model's output layer keeps every unit, since
  removing one would remove a class). One global threshold prunes layers of small weights
  hardest: a PPO policy head initialised at gain 0.01 can lose all its weights early in training,
  where structured pruning or a smaller fraction keeps it.
- **Quantisation** (:func:`quantize`, :func:`dequantize`): ``bits``-bit symmetric uniform codes,
  ``w ~ code * scale`` with ``scale = max |w| / (2**(bits-1) - 1)`` per tensor (zero is a level).
- **Weight clustering** (:func:`cluster`): weight sharing as in Han et al. 2016 ("Deep
  Compression"): 1-D k-means over a tensor's values from a linear initialisation, each weight
  replaced by its centroid; the model stores a ``clusters``-entry codebook and an index per weight.

Only the kept (unpruned) entries are quantised or clustered, so a pruned weight stays exactly 0.
The weights in memory and in checkpoints are float32 tensors holding the compressed values (what
the compressed representation decodes to), so a compressed run loads and runs like any other;
:func:`compressed_bits` counts the size the compressed representation takes.

:class:`Compressed` is the learner of a run that ``gymlab compress`` writes: the compressed
run's own learner (supervised, ppo, ...) inside, with the pruning masks as a checkpoint entry
of their own (``modules["masks"]``, next to the network's unchanged keys). Fine-tuning it (with
``gymlab compress --finetune``, or ``gymlab train --resume``) keeps pruned weights at 0: after
every optimizer step the masks are applied again; at the end the kept weights are quantised
and clustered again.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import agents
from agents.base import Agent
from agents.config import TrainConfig

FLOAT_BITS = 32
"""bits of an uncompressed value (float32); ``bits=32`` means no quantisation"""


# ----------------------------------------------------------------------------- the methods
def compressible_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters compression acts on: weight matrices and kernels (2 or more dimensions),
    by name, in the model's order."""
    return {name: p for name, p in model.named_parameters() if p.dim() >= 2}


def magnitude_masks(weights: dict[str, torch.Tensor], amount: float) -> dict[str, torch.Tensor]:
    """Unstructured global magnitude pruning: bool masks (one per tensor, its shape) that keep the
    ``round((1 - amount) * total)`` entries of largest ``|w|`` over all the tensors together (at
    least one), so a layer with many small weights loses more of them than one with few."""
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights.values()])  # (total,)
    keep = max(1, round((1.0 - amount) * len(magnitudes)))
    kept = torch.zeros_like(magnitudes, dtype=torch.bool)
    kept[magnitudes.topk(keep).indices] = True
    masks, start = {}, 0
    for name, weight in weights.items():
        masks[name] = kept[start : start + weight.numel()].view_as(weight)
        start += weight.numel()
    return masks


def structured_mask(weight: torch.Tensor, amount: float) -> torch.Tensor:
    """Structured pruning: keep the ``round((1 - amount) * units)`` output units (rows of a
    matrix, filters of a kernel) of largest L2 norm (at least one); a bool mask of ``weight``'s
    shape with whole units removed."""
    norms = weight.detach().flatten(1).norm(dim=1)  # (units,)
    keep = max(1, round((1.0 - amount) * len(norms)))
    rows = torch.zeros(len(norms), dtype=torch.bool, device=weight.device)
    rows[norms.topk(keep).indices] = True
    return rows.view(-1, *[1] * (weight.dim() - 1)).expand_as(weight).clone()


def quantize(values: torch.Tensor, bits: int) -> tuple[torch.Tensor, float]:
    """``bits``-bit symmetric uniform quantisation: ``(codes, scale)`` with integer codes in
    ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (int64, the shape of ``values``) such that
    ``codes * scale`` is within ``scale / 2`` of each value; ``scale = max |value| / (2**(bits-1) - 1)``.
    Zero is a level, so a zero weight stays exactly 0 (2 bits: the levels are -scale, 0, scale)."""
    levels = 2 ** (bits - 1) - 1
    largest = float(values.abs().max()) if values.numel() else 0.0
    scale = largest / levels if largest > 0 else 1.0
    codes = torch.round(values / scale).clamp_(-levels, levels).long()
    return codes, scale


def dequantize(codes: torch.Tensor, scale: float) -> torch.Tensor:
    """The values integer ``codes`` stand for: ``codes * scale`` (float32)."""
    return (codes.float() * scale).float()


def fake_quantize(values: torch.Tensor, bits: int) -> torch.Tensor:
    """``values`` rounded to their ``bits``-bit grid (quantised, then decoded)."""
    return dequantize(*quantize(values, bits))


def cluster(values: torch.Tensor, clusters: int, iterations: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight sharing by 1-D k-means: ``(centroids (k,), assignment)`` where ``assignment`` (the
    shape of ``values``, int64) indexes the centroid that replaces each value. Centroids start
    evenly spaced between the minimum and the maximum (Deep Compression's linear initialisation,
    which keeps the rare large weights represented); a centroid left without values stays put.
    In one dimension each centroid's values are an interval, so the centroids stay sorted."""
    flat = values.detach().flatten().float()  # (N,)
    centroids = torch.linspace(float(flat.min()), float(flat.max()), clusters)  # (k,), sorted
    for _ in range(iterations):
        assignment = nearest(flat, centroids)  # (N,)
        sums = torch.zeros(clusters).index_add_(0, assignment, flat)
        counts = torch.bincount(assignment, minlength=clusters).float()
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(updated, centroids):
            break
        centroids = updated
    return centroids, nearest(flat, centroids).view_as(values)


def nearest(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest of the sorted 1-D ``centroids`` (k,) for each of ``values`` (N,):
    a binary search among the midpoints between neighbours, O(N log k) (ties: the lower one)."""
    return torch.bucketize(values, (centroids[1:] + centroids[:-1]) / 2)


def compress_values(values: torch.Tensor, bits: int = FLOAT_BITS, clusters: int = 0) -> torch.Tensor:
    """Kept weight values (1-D) as the compressed representation decodes them: clustered (each
    value its centroid) and/or quantised (with clusters, the codebook is quantised)."""
    if clusters:
        centroids, assignment = cluster(values, clusters)
        if bits < FLOAT_BITS:
            centroids = fake_quantize(centroids, bits)
        return centroids[assignment]
    if bits < FLOAT_BITS:
        return fake_quantize(values, bits)
    return values


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero every pruned weight of ``model`` (in place)."""
    weights = compressible_weights(model)
    for name, mask in masks.items():
        weights[name].mul_(mask.to(weights[name].dtype))


@torch.no_grad()
def project(model: nn.Module, masks: dict[str, torch.Tensor], bits: int = FLOAT_BITS, clusters: int = 0) -> None:
    """Put ``model``'s weights into their compressed form (in place): pruned entries 0, kept
    entries quantised and/or clustered (:func:`compress_values`)."""
    apply_masks(model, masks)
    if bits >= FLOAT_BITS and not clusters:
        return
    for name, weight in compressible_weights(model).items():
        kept = masks[name]
        weight[kept] = compress_values(weight[kept], bits, clusters).to(weight.dtype)


def prune_masks(model: nn.Module, amount: float, structured: bool = False) -> dict[str, torch.Tensor]:
    """Magnitude-pruning masks for every compressible weight of ``model``: global over all weights
    (:func:`magnitude_masks`), or with ``structured`` the same fraction of each tensor's units
    (:func:`structured_mask`), the output layer (the last weight) kept whole."""
    weights = compressible_weights(model)
    if amount == 0:
        return {name: torch.ones_like(w, dtype=torch.bool) for name, w in weights.items()}
    if not structured:
        return magnitude_masks(weights, amount)
    last = list(weights)[-1]
    return {
        name: torch.ones_like(w, dtype=torch.bool) if name == last else structured_mask(w, amount)
        for name, w in weights.items()
    }


def tensor_bits(
    mask: torch.Tensor, structured: bool = False, bits: int = FLOAT_BITS, clusters: int = 0
) -> dict[str, int]:
    """Bits of one weight tensor's compressed representation, by part: ``values`` (per kept
    entry: ``bits``, or ``ceil(log2 clusters)`` codebook indices), ``table`` (the codebook of
    ``clusters`` values; a quantised tensor's float32 scale, 32 bits) and ``index``
    (where the kept entries are: nothing for a dense tensor, one bit per unit when units are
    removed, else the cheaper of a one-bit-per-entry bitmap and ``ceil(log2 numel)`` bits per
    kept entry)."""
    numel, kept = mask.numel(), int(mask.sum())
    per_value = math.ceil(math.log2(clusters)) if clusters > 1 else 0 if clusters == 1 else bits
    table = clusters * bits if clusters else 0
    if bits < FLOAT_BITS:
        table += FLOAT_BITS
    if kept == numel:
        index = 0
    elif structured:
        index = mask.shape[0]
    else:
        index = min(numel, kept * math.ceil(math.log2(numel)))
    return {"values": kept * per_value, "table": table, "index": index}


def compressed_bits(
    model: nn.Module,
    masks: dict[str, torch.Tensor] | None = None,
    structured: bool = False,
    bits: int = FLOAT_BITS,
    clusters: int = 0,
) -> int:
    """Bits of ``model``'s parameters in compressed form: :func:`tensor_bits` for each weight
    tensor, 32 per value for every other parameter (biases...). With no masks and no
    compression this is 32 bits per parameter."""
    masks = masks or {}
    weights = compressible_weights(model)
    total = 0
    for name, p in model.named_parameters():
        if name in weights:
            mask = masks.get(name, torch.ones_like(p, dtype=torch.bool))
            total += sum(tensor_bits(mask, structured, bits, clusters).values())
        else:
            total += p.numel() * FLOAT_BITS
    return total


def model_bytes(model: nn.Module, **compression) -> int:
    """Bytes of :func:`compressed_bits`, rounded up; ``model_bytes(model)`` is its float32 size."""
    return -(-compressed_bits(model, **compression) // 8)


def parameter_count(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- the learner
class Masks(nn.Module):
    """Pruning masks as bool buffers (one per compressible weight), so they are a checkpoint entry
    of their own: the network's state_dict keys stay those of an uncompressed model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.names = list(compressible_weights(model))
        for name, weight in compressible_weights(model).items():
            self.register_buffer(self.key(name), torch.ones_like(weight, dtype=torch.bool))

    @staticmethod
    def key(name: str) -> str:
        """Buffer name of the mask of parameter ``name`` (buffer names hold no dots)."""
        return name.replace(".", "__")

    def as_dict(self) -> dict[str, torch.Tensor]:
        """Parameter name -> its mask."""
        return {name: getattr(self, self.key(name)) for name in self.names}

    def set(self, masks: dict[str, torch.Tensor]) -> None:
        """Replace the masks."""
        for name, mask in masks.items():
            getattr(self, self.key(name)).copy_(mask)


@dataclass
class CompressedConfig(TrainConfig):
    """A compressed run: the learner of the run compressed, and how it was compressed."""

    source_agent: str = "supervised"
    """the learner of the run compressed (the network's layout)"""
    source_config: str = "{}"
    """that learner's hyperparameters, as JSON"""
    prune: float = 0.0
    """fraction of the weights (of each tensor's units, with structured) pruned by magnitude"""
    structured: bool = False
    """prune whole output units (rows, filters) instead of single weights"""
    bits: int = FLOAT_BITS
    """bits per kept weight (uniform quantisation; 32: float32, none)"""
    clusters: int = 0
    """weight sharing: k-means centroids per weight tensor (0: none)"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        super().check()
        check_compression(self.prune, self.bits, self.clusters)
        if self.source_agent not in agents.AGENTS or self.source_agent == "compressed":
            raise ValueError(f"source_agent must be a learner of a run ({', '.join(agents.AGENTS)})")
        try:
            source = json.loads(self.source_config)
        except json.JSONDecodeError as e:
            raise ValueError(f"source_config must be JSON ({e})") from None
        if not source:
            raise ValueError("a compressed run is made from a trained one: gymlab compress RUN_DIR --out DIR")


def check_compression(prune: float, bits: int, clusters: int) -> None:
    """Raise ValueError, with the fix, for compression settings out of range."""
    if not 0.0 <= prune < 1.0:
        raise ValueError(f"prune must be in [0, 1) (the fraction of weights removed), got {prune}")
    if not (2 <= bits <= 16 or bits == FLOAT_BITS):
        raise ValueError(f"bits must be in 2..16, or 32 for float32 (no quantisation), got {bits}")
    if clusters < 0 or clusters == 1:
        raise ValueError(f"clusters must be 0 (no weight sharing) or >= 2, got {clusters}")
    if clusters and bits < FLOAT_BITS and clusters > 2**bits - 1:
        raise ValueError(f"{clusters} clusters need more than {bits}-bit centroids; use clusters <= {2**bits - 1}")


class Compressed(Agent):
    """A compressed run's learner: the original learner (``inner``) with pruned, quantised and/or
    clustered weights. Acting, evaluating and training are the inner learner's; the masks keep
    pruned weights at 0 while it trains, and the end of training compresses the kept weights again."""

    name = "compressed"
    Config = CompressedConfig
    config: CompressedConfig

    @classmethod
    def check_spaces(cls, observation_space, action_space) -> None:
        """The inner learner checks its spaces."""

    def build(self) -> None:
        """The inner learner (untrained; weights come from a checkpoint or :func:`compress_run`) and
        its masks, with the masks applied after every optimizer step."""
        from agents.runs import build_agent

        c = self.config
        self.inner = build_agent(
            {"agent": c.source_agent, "env_id": self.env_id, "seed": self.seed, "env_kwargs": self.env_kwargs,
             "hyperparameters": json.loads(c.source_config)},
            str(self.device),
        )  # fmt: skip
        try:
            self.model = self.inner.model
        except NotImplementedError:
            raise ValueError(f"a {c.source_agent} run has no single model to compress") from None
        self.masks = Masks(self.model)
        self.episodes = self.inner.episodes
        for optimizer in self.inner.modules().values():
            if isinstance(optimizer, torch.optim.Optimizer):
                optimizer.register_step_post_hook(lambda *_: apply_masks(self.model, self.masks.as_dict()))

    def compression(self) -> dict:
        """The settings :func:`compressed_bits` takes: masks, structured, bits, clusters."""
        c = self.config
        return {"masks": self.masks.as_dict(), "structured": c.structured, "bits": c.bits, "clusters": c.clusters}

    def prune(self) -> None:
        """Magnitude pruning of the current weights (``config.prune``, :func:`prune_masks`), masks applied."""
        self.masks.set(prune_masks(self.model, self.config.prune, self.config.structured))
        apply_masks(self.model, self.masks.as_dict())

    def project(self) -> None:
        """Weights into compressed form (masks, quantisation, clusters); the inner learner's copy of
        the best weights too, when it keeps one."""
        project(self.model, self.masks.as_dict(), self.config.bits, self.config.clusters)
        best = getattr(self.inner, "best_model", None)
        if isinstance(best, nn.Module):
            best.load_state_dict(self.model.state_dict())

    def size_bytes(self) -> int:
        """Bytes of the compressed representation (:func:`compressed_bits`)."""
        return model_bytes(self.model, **self.compression())

    def modules(self):
        """The inner learner's modules and the masks."""
        return {**self.inner.modules(), "masks": self.masks}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """The inner learner's actions."""
        return self.inner.act(obs, deterministic)

    def obs_tensor(self, obs):
        """The inner learner's observation batch."""
        return self.inner.obs_tensor(obs)

    def to_env_actions(self, actions):
        """The inner learner's env actions."""
        return self.inner.to_env_actions(actions)

    def evaluate(self, *args, **kwargs) -> dict[str, float]:
        """The inner learner's evaluation (a supervised run: the test split's metric)."""
        with self.own_process_state():
            return self.inner.evaluate(*args, **kwargs)

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The inner learner's training envs."""
        self.inner.open_envs(video_dir, video_every)
        self.envs = self.inner.envs

    def close(self) -> None:
        """Close the inner learner's envs."""
        self.inner.close()
        self.envs = None

    def train_iteration(self) -> dict[str, float]:
        """One iteration of the inner learner with pruned weights held at 0; the last one puts the
        weights into compressed form."""
        inner = self.inner
        inner.config = dataclasses.replace(inner.config, total_steps=self.config.total_steps)
        metrics = inner.train_iteration()
        apply_masks(self.model, self.masks.as_dict())
        self.num_timesteps = inner.num_timesteps
        # a learner that stops early ends its budget; end ours with it
        self.config = dataclasses.replace(self.config, total_steps=inner.config.total_steps)
        if self.num_timesteps >= self.config.total_steps:
            self.project()
        return metrics

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """The inner learner's figures and the compressed size in bytes."""
        return {**self.inner.summary(metrics), "size_bytes": float(self.size_bytes())}

    def eval_lines(self, stats: dict[str, float]) -> list[str]:
        """``gymlab eval``: the inner learner's figures, then the size of the compressed model."""
        lines = self.inner.eval_lines(stats) if hasattr(self.inner, "eval_lines") else None
        if lines is None:
            skip = ("mean_reward", "std_reward", "mean_ep_length")
            lines = [f"{key}: {value:.4f}" for key, value in stats.items() if key not in skip]
        return lines + size_lines(self)

    def state_dict(self) -> dict:
        """The inner learner's state, the masks as ``modules["masks"]``."""
        state = self.inner.state_dict()
        state["modules"]["masks"] = self.masks.state_dict()
        state["iterations"] = self.iterations
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore from :meth:`state_dict`."""
        if "masks" not in state["modules"]:
            raise ValueError("checkpoint lacks masks; was it written by gymlab compress?")
        self.masks.load_state_dict(state["modules"]["masks"])
        self.inner.load_state_dict(state, weights_only)
        self.num_timesteps = self.inner.num_timesteps
        if not weights_only:
            self.iterations = int(state["iterations"])


def size_lines(agent: Compressed) -> list[str]:
    """How big a compressed model is, against its float32 original, and how that is counted."""
    c, model = agent.config, agent.model
    dense = model_bytes(model)
    size = agent.size_bytes()
    masks = agent.masks.as_dict()
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    how = [f"{kept}/{total} weights kept" + (" (whole units)" if c.structured and kept < total else "")]
    if c.clusters:
        how.append(f"{c.clusters}-entry codebook per tensor, {math.ceil(math.log2(c.clusters))}-bit indices")
    if c.bits < FLOAT_BITS:
        how.append(f"{c.bits}-bit values")
    return [
        f"size:        {size} bytes compressed, {dense} as float32 ({dense / size:.1f}x smaller; "
        f"{parameter_count(model)} parameters)",
        f"             counted: {', '.join(how)}; pruned tensors store a bitmap or index list, whichever "
        "is smaller; biases stay float32",
    ]


def compress_run(
    run_dir: str | Path,
    out: str | Path,
    prune: float = 0.0,
    structured: bool = False,
    bits: int = FLOAT_BITS,
    clusters: int = 0,
    finetune: int = 0,
    device: str = "cpu",
) -> Compressed:
    """``gymlab compress``: the run at ``run_dir`` pruned by magnitude, fine-tuned for ``finetune``
    steps with the pruned weights held at 0, then quantised and/or clustered, written to ``out``
    as a run directory (``gymlab eval`` and ``gymlab.load`` take it)."""
    from agents import runs

    check_compression(prune, bits, clusters)
    if finetune < 0:
        raise ValueError(f"--finetune must be >= 0 steps, got {finetune}")
    out = Path(out)
    if (out / runs.CONFIG).exists():
        raise ValueError(f"{out} already holds a run; choose another --out")
    _, source = runs.load_run(Path(run_dir), device)
    if isinstance(source, Compressed):
        raise ValueError(f"{run_dir} is already compressed; compress the original run instead")
    config = CompressedConfig(
        total_steps=max(finetune, 1), source_agent=source.name,
        source_config=json.dumps(dataclasses.asdict(source.config)), prune=prune, structured=structured,
        bits=bits, clusters=clusters, threads=source.config.threads,
    )  # fmt: skip
    agent = Compressed(source.env_id, config, seed=source.seed, device=device, env_kwargs=source.env_kwargs)
    agent.inner.load_state_dict(source.state_dict(), weights_only=True)
    agent.num_timesteps = agent.inner.num_timesteps = 0  # the compressed run counts its fine-tuning steps
    agent.prune()
    if finetune:
        agent.learn(run_dir=out)  # ends with project()
    else:
        agent.project()
        agent.save(out)
    return agent
