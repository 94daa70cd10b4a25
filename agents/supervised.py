"""The pathwise learner: supervised training written as an agent in a single-step env.

A supervised task is a single-step environment (observation = x, action = prediction,
reward = -loss). Because that reward is differentiable in the action, this learner trains by
backpropagating ``(-reward).mean()`` through :class:`envs.SingleStepVectorEnv` — which is
exactly minibatch gradient descent on the loss. One env step scores one example, so
``total_steps``, ``time/fps`` and checkpoints count examples just as they count transitions
for the RL learners.

Read top to bottom: the config, the network builder, then the learner (one iteration = one
pass over the train split, then a validation score and the early-stopping bookkeeping).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from agents.base import Agent
from agents.config import TrainConfig, one_of, positive
from agents.networks import (
    CNN,
    AttentionEncoder,
    CategoricalHead,
    eval_mode,
    layer_weights,
    mlp,
    orthogonal_init,
)
from agents.optim import clip_grad_norm, make_optimizer, set_lr
from agents.seq2seq import Seq2SeqTransformer, beam_search
from envs.single_step import SingleStepEnv, SingleStepVectorEnv, fixed_dataset, task_env_ids
from supervised import Dataset, attacks
from supervised.kinds import softmax_squared_error

NETS: tuple[str, ...] = ("auto", "mlp", "cnn", "attention", "autoencoder", "separable_cnn", "transformer")
"""Values of ``net``; auto = cnn for images, attention for sequences, mlp otherwise; autoencoder
(reconstruction tasks) = an MLP encoder down to ``bottleneck`` values and a mirrored decoder;
separable_cnn: the cnn with depthwise-separable convolutions after the first; transformer: the
encoder-decoder of seq2seq tasks (:mod:`agents.seq2seq`)."""

AUGMENTATIONS: tuple[str, ...] = ("none", "shift")
"""Values of ``augment``: none, or shift (:func:`random_shift`, image tasks only)."""

ADV_TRAIN: tuple[str, ...] = ("none", "fgsm", "pgd")
"""Values of ``adv_train``: no adversarial training, or the attack each batch is trained under."""

LOSSES: tuple[str, ...] = ("task", "softmax_mse")
"""Values of ``loss``: the task's own (the env's -reward), or squared error after softmax."""


@dataclass
class SupervisedConfig(TrainConfig):
    """Pathwise (backprop) learner hyperparameters; defaults suit the course's small tasks."""

    total_steps: int = 0
    """training examples (one example = one env step); 0: `epochs` passes over the train split"""
    n_envs: int = 1
    """must stay 1: one batched env scores batch_size examples per step (set batch_size instead)"""
    learning_rate: float = 1e-3
    """initial learning rate"""
    max_grad_norm: float = 0.0
    """clip the global gradient norm to this (0 disables)"""
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    """hidden layer sizes of the MLP (the last one is the CNN's feature size)"""
    activation: str = "relu"
    """tanh | relu | gelu | elu | leaky_relu | sigmoid"""
    ortho_init: bool = False
    """orthogonal initialisation of the MLP/CNN layers (PyTorch's default init otherwise)"""
    net: str = "auto"
    """auto | mlp | cnn or separable_cnn (image tasks) | attention (sequence tasks); mlp is per token on sequences"""
    batch_size: int = 64
    """examples per gradient step (= num_envs of the batched env)"""
    epochs: int = 30
    """passes over the train split when total_steps is 0"""
    patience: int = 8
    """stop after this many epochs without a better validation score, keeping the best weights (0: never)"""
    weight_decay: float = 0.0
    """L2 penalty passed to the optimizer"""
    d_model: int = 64
    """attention: width of the token embeddings"""
    n_heads: int = 4
    """attention: heads per layer"""
    n_layers: int = 2
    """attention: encoder layers"""
    eval_batch_size: int = 1024
    """examples per forward pass when scoring a whole split"""
    bottleneck: int = 16
    """net=autoencoder: size of the code between encoder and decoder (the encoder's layers are `hidden`)"""
    members: int = 1
    """bagging: train this many networks, each on its own bootstrap resample of the train split, and
    predict with their averaged probabilities (classification) or mean (regression, reconstruction)"""
    batch_norm: bool = False
    """a BatchNorm1d after each hidden Linear of the MLP (before its activation); BatchNorm2d in the CNN"""
    depth: int = 0
    """hidden layers of the MLP, each as wide as hidden[0] (0: the layers of `hidden` as listed)"""
    dropout: float = 0.0
    """probability of zeroing a unit after each hidden activation, in training only (attention: its own dropout)"""
    l1: float = 0.0
    """L1 penalty: l1 * (sum of |w| over every Linear/Conv weight) is added to the loss"""
    label_smoothing: float = 0.0
    """classification: train against (1 - s) one_hot(y) + s / n_classes instead of one_hot(y)"""
    augment: str = "none"
    """none | shift (image tasks: move each training image by up to one pixel each way)"""
    train_fraction: float = 1.0
    """train on this fraction of the train split: a fixed subset drawn from the seed"""
    keep_best: bool = True
    """end with the weights of the best validation score (false: the last weights, as a fixed-epoch fit)"""
    adv_train: str = "none"
    """adversarial training (HW10's defence): none | fgsm | pgd; each batch is attacked within adv_eps first"""
    adv_eps: float = 0.1
    """adversarial training: L-inf radius of the attack, in the input's units (digits: [0, 1] pixels)"""
    adv_steps: int = 5
    """adversarial training with pgd: attack steps per batch"""
    causal_mask: bool = True
    """transformer: mask the decoder's self-attention so position t reads tokens before t only"""
    beam_size: int = 1
    """transformer: beams of the search that writes label actions (1: greedy decoding)"""
    loss: str = "task"
    """the loss gradient steps minimise: task (the env's -reward: cross-entropy for classification, MSE for
    regression) | softmax_mse (classification: squared error between softmax and one-hot, the slide's
    "why not MSE?")"""
    adv_select: bool = False
    """keep the weights of the best validation score under PGD (adv_eps, adv_steps, true labels) instead of
    the clean one (with keep_best): the robust model is chosen by its robust validation accuracy"""

    def check(self) -> None:
        """Raise ValueError for out-of-range values, with the fix."""
        if self.total_steps < 0:
            raise ValueError(f"total_steps must be >= 0 (0: epochs passes), got {self.total_steps}")
        # the shared checks, with total_steps=0 (meaning "epochs passes") let through
        TrainConfig.check(dataclasses.replace(self, total_steps=self.total_steps or 1))
        positive(
            self, "batch_size", "epochs", "d_model", "n_heads", "n_layers", "eval_batch_size", "bottleneck", "beam_size"
        )
        positive(self, "members")
        if self.members > 1 and (self.label_smoothing or self.l1):
            raise ValueError("members (bagging) trains on the task's own loss: set label_smoothing=0 and l1=0")
        one_of(self, "net", NETS)
        if self.n_envs != 1:
            raise ValueError(
                f"supervised steps one batched env, so n_envs must be 1 (got {self.n_envs}); "
                f"set the examples per step with --set batch_size={self.n_envs}"
            )
        if self.patience < 0 or self.weight_decay < 0:
            raise ValueError(f"patience and weight_decay must be >= 0 (got {self.patience} and {self.weight_decay})")
        if self.depth < 0 or self.l1 < 0:
            raise ValueError(f"depth and l1 must be >= 0 (got {self.depth} and {self.l1})")
        if self.depth and not self.hidden:
            raise ValueError("depth repeats hidden[0], but hidden is empty; set e.g. hidden=[64]")
        for name in ("dropout", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        one_of(self, "augment", AUGMENTATIONS)
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        one_of(self, "adv_train", ADV_TRAIN)
        one_of(self, "loss", LOSSES)
        if self.loss != "task" and (self.members > 1 or self.label_smoothing):
            raise ValueError(f"loss={self.loss} replaces the task's loss: set members=1 and label_smoothing=0")
        if not 0 <= self.adv_eps < math.inf or self.adv_steps < 1:
            raise ValueError(f"adv_eps must be >= 0 and adv_steps >= 1 (got {self.adv_eps} and {self.adv_steps})")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be a multiple of n_heads (got {self.d_model} and {self.n_heads})")


# ----------------------------------------------------------------------------- networks
class Predictor(nn.Module):
    """Observation batch -> prediction batch: a body and a linear head, shaped for the task.

    Outputs have the task's prediction shape (the env's ``mode="prediction"`` action): (B,
    n_classes) logits for classification, (B, D) values for regression, (B, *obs_shape) for
    reconstruction, (B, T, n_classes) logits for sequences.
    """

    def __init__(self, body: nn.Module, head: nn.Module, flatten: bool, out_shape: tuple[int, ...] = ()):
        super().__init__()
        self.flatten = flatten
        self.out_shape = tuple(out_shape)
        self.body = body
        self.head = head

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.flatten(1) if self.flatten else obs  # (B, D) or (B, T, D) or (B, C, H, W)
        out = self.head(self.body(x))
        return out.reshape(len(obs), *self.out_shape) if self.out_shape else out  # (B, *prediction_shape)


def average_probabilities(member_logits: torch.Tensor) -> torch.Tensor:
    """log of the members' mean probabilities: (K, B, ..., C) logits -> (B, ..., C) log-probabilities.

    They serve as the ensemble's logits (softmax leaves them unchanged), so its argmax is the
    averaged-probability vote and its cross-entropy the NLL of the averaged probabilities."""
    log_probabilities = torch.log_softmax(member_logits, dim=-1)  # (K, B, ..., C)
    return torch.logsumexp(log_probabilities, dim=0) - math.log(len(member_logits))


def bootstrap_counts(n: int, members: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(members, n) float: how often each of ``n`` rows appears in each member's bootstrap resample
    (``n`` draws with replacement; every row sums to ``n``, about 37% of the counts are 0)."""
    draws = torch.randint(n, (members, n), generator=generator)  # (K, n) row numbers
    return torch.stack([torch.bincount(row, minlength=n) for row in draws]).float()


def bagging_loss(member_losses: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Every member's loss on its own bootstrap resample: example i of the batch weighs
    ``counts[k, i]`` (its multiplicity in member k's resample) in member k's mean loss; the members'
    losses are summed, so each member's gradient is its own. (K, B), (K, B) -> ()."""
    return (counts * member_losses).mean(dim=1).sum()


class Ensemble(nn.Module):
    """K networks answering as one (bagging): the members' mean probabilities for labelled kinds
    (as log-probabilities, see :func:`average_probabilities`), their mean prediction otherwise.

    ``counts`` (K, N) is each member's bootstrap multiplicity of every train row, kept as a buffer
    so that a resumed run trains every member on the same resample."""

    def __init__(self, members: list[nn.Module], labelled: bool, counts: torch.Tensor):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.labelled = labelled
        self.register_buffer("counts", counts)

    def member_outputs(self, obs: torch.Tensor) -> torch.Tensor:
        """Every member's prediction: (K, B, *prediction_shape)."""
        return torch.stack([member(obs) for member in self.members])

    def combine(self, outputs: torch.Tensor) -> torch.Tensor:
        """The ensemble's prediction from the members' (K, B, *shape) -> (B, *shape)."""
        return average_probabilities(outputs) if self.labelled else outputs.mean(dim=0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.combine(self.member_outputs(obs))


def predicts_per_position(dataset: Dataset) -> bool:
    """Whether inputs are (T, D) sequences and predictions (T, C), one per input position."""
    obs, out = dataset.obs_shape, dataset.prediction_shape
    return len(obs) == 2 and len(out) == 2 and out[0] == obs[0]


def resolve_net(net: str, dataset: Dataset) -> str:
    """The concrete network for ``net`` on ``dataset``; ValueError when it does not fit the task."""
    is_image = len(dataset.obs_shape) == 3
    if net == "auto":
        return "cnn" if is_image else "attention" if predicts_per_position(dataset) else "mlp"
    if net in ("cnn", "separable_cnn") and not is_image:
        raise ValueError(
            f"net={net} needs image observations; {dataset.name!r} inputs are {dataset.obs_shape}; use net=mlp"
        )
    if net == "autoencoder" and not dataset.kind.target_is_input:
        raise ValueError(
            f"net=autoencoder needs a reconstruction task (target = input); {dataset.name!r} is {dataset.kind}; "
            "use net=mlp, or a reconstruction task such as gymlab/DigitsReconstruction-v0"
        )
    if net == "transformer" and not (len(dataset.obs_shape) == 2 and len(dataset.prediction_shape) == 2):
        raise ValueError(
            f"net=transformer needs a sequence-to-sequence task (inputs (T_in, D), outputs (T_out, tokens)); "
            f"{dataset.name!r} is {dataset.kind} ({dataset.obs_shape} -> {dataset.prediction_shape})"
        )
    if net == "attention" and not predicts_per_position(dataset):
        raise ValueError(
            f"net=attention needs a sequence task with one prediction per position; {dataset.name!r} is "
            f"{dataset.kind} ({dataset.obs_shape} -> {dataset.prediction_shape}); use net=mlp"
        )
    return net


def hidden_sizes(config: SupervisedConfig) -> list[int]:
    """The MLP's hidden layer sizes: ``depth`` layers as wide as ``hidden[0]``, or ``hidden`` itself."""
    return [config.hidden[0]] * config.depth if config.depth else list(config.hidden)


def check_task_settings(config: SupervisedConfig, net: str, dataset: Dataset) -> None:
    """ValueError, with the fix, for a setting that does not apply to ``dataset`` or to the
    concrete network ``net``."""
    c = config
    if c.loss == "softmax_mse" and dataset.kind.name != "classification":
        raise ValueError(
            f"loss=softmax_mse compares class probabilities with one-hot labels; {dataset.name!r} is "
            f"{dataset.kind}: set loss=task"
        )
    if c.label_smoothing and dataset.kind.name != "classification":
        raise ValueError(
            f"label_smoothing applies to classification tasks; {dataset.name!r} is {dataset.kind}: "
            "set label_smoothing=0"
        )
    if c.augment == "shift" and len(dataset.obs_shape) != 3:
        raise ValueError(
            f"augment=shift moves images; {dataset.name!r} inputs are {dataset.obs_shape}: set augment=none"
        )
    if c.members > 1 and net == "transformer":
        raise ValueError(
            "members bags networks trained on whole batches; net=transformer is teacher-forced: set members=1"
        )
    if (c.adv_train != "none" or c.adv_select) and (len(dataset.obs_shape) == 2 or net == "transformer"):
        raise ValueError(
            f"adv_train and adv_select perturb continuous inputs (images, vectors); {dataset.name!r} inputs are "
            f"tokens {dataset.obs_shape}: set adv_train=none adv_select=false"
        )
    if net in ("autoencoder", "transformer") and (c.batch_norm or c.dropout or c.depth):
        raise ValueError(
            f"batch_norm, dropout and depth shape the MLP and CNN; net={net} has its own layout: unset them"
        )
    if c.beam_size > 1 and net != "transformer":
        raise ValueError(f"beam_size searches a decoder's outputs; it needs net=transformer (got net={net})")
    if c.batch_norm and (net == "attention" or dataset.kind.per_token):
        raise ValueError(
            f"batch_norm normalises an MLP's or a CNN's features, not tokens ({dataset.name!r} with net={net}): "
            "set batch_norm=false"
        )


def network_settings(config) -> SupervisedConfig:
    """Another learner's config (lifelong, MAML) as a :class:`SupervisedConfig`: the network
    settings both have (net, hidden, activation, d_model, ...) taken over, the rest at their
    defaults (no batch norm, dropout, ...)."""
    names = {f.name for f in dataclasses.fields(SupervisedConfig)}
    return SupervisedConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name in names})


def build_predictor(net: str, dataset: Dataset, config: SupervisedConfig) -> Predictor:
    """The network ``net`` (mlp | cnn | attention | ...) for ``dataset``, built from the shared
    modules (another learner's config gives its network settings, :func:`network_settings`)."""
    c = config if isinstance(config, SupervisedConfig) else network_settings(config)
    net = resolve_net(net, dataset)
    check_task_settings(c, net, dataset)
    hidden = hidden_sizes(c)
    out_shape = dataset.prediction_shape
    out_dim = math.prod(out_shape)
    if net in ("cnn", "separable_cnn"):
        features = hidden[-1] if hidden else 256
        body = CNN(dataset.obs_shape, features, c.activation, batch_norm=c.batch_norm, dropout=c.dropout,
                   separable=net == "separable_cnn")  # fmt: skip
        model = Predictor(body, nn.Linear(body.out_dim, out_dim), flatten=False, out_shape=out_shape)
    elif net == "attention":
        seq_len, in_dim = dataset.obs_shape
        body = AttentionEncoder(in_dim, seq_len, c.d_model, c.n_heads, c.n_layers, c.dropout)
        model = Predictor(body, nn.Linear(body.out_dim, out_shape[-1]), flatten=False)  # per token
    elif net == "autoencoder":  # body = encoder (B, D) -> (B, bottleneck), head = decoder back to (B, D)
        in_dim = math.prod(dataset.obs_shape)
        encoder = mlp([in_dim, *c.hidden, c.bottleneck], c.activation)
        decoder = mlp([c.bottleneck, *reversed(c.hidden), in_dim], c.activation)
        model = Predictor(encoder, decoder, flatten=True, out_shape=out_shape)
    elif net == "transformer":
        (in_len, in_dim), (out_len, n_tokens) = dataset.obs_shape, out_shape
        return Seq2SeqTransformer(in_dim, in_len, out_len, n_tokens, c.d_model, c.n_heads, c.n_layers, c.causal_mask)
    elif dataset.kind.per_token:  # one MLP applied to every token on its own
        layers = [dataset.obs_shape[-1], *hidden, out_shape[-1]]
        model = Predictor(mlp(layers, c.activation, dropout=c.dropout), nn.Identity(), flatten=False)
    else:
        in_dim = math.prod(dataset.obs_shape)
        body = mlp([in_dim, *hidden, out_dim], c.activation, batch_norm=c.batch_norm, dropout=c.dropout)
        model = Predictor(body, nn.Identity(), True, out_shape)
    if c.ortho_init and net != "attention":
        orthogonal_init(model, math.sqrt(2))
    return model.eval()  # eval mode except during gradient steps (dropout off, batch norm's running stats)


# ----------------------------------------------------------------------------- training extras
def smoothed_cross_entropy(logits: torch.Tensor, cross_entropy: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Label smoothing (Szegedy et al. 2016): the cross-entropy against (1 - s) one_hot(y) + s / C,
    which is (1 - s) * CE(y) + s * mean over classes of -log softmax(logits).

    ``logits`` (B, C); ``cross_entropy`` (B,) is the env's -reward, CE(y). Returns (B,)."""
    uniform_cross_entropy = -torch.log_softmax(logits, dim=-1).mean(dim=-1)  # (B,)
    return (1.0 - smoothing) * cross_entropy + smoothing * uniform_cross_entropy


def supervised_loss(
    prediction: torch.Tensor,
    reward: torch.Tensor,
    weights: list[torch.Tensor],
    config: SupervisedConfig,
    target: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss one gradient step minimises: the mean of the env's -reward (the task's loss),
    label-smoothed when ``config.label_smoothing`` > 0 (or ``config.loss`` in its place, scored
    against ``target`` (B,)), plus ``config.l1`` times the L1 norm of ``weights``. ``prediction``
    (B, ...) and ``reward`` (B,) carry the graph."""
    losses = -reward  # (B,)
    if config.loss == "softmax_mse":
        losses = softmax_squared_error(prediction, target)
    if config.label_smoothing:
        losses = smoothed_cross_entropy(prediction, losses, config.label_smoothing)
    loss = losses.mean()
    if config.l1:
        loss = loss + config.l1 * l1_penalty(weights)
    return loss


def l1_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """sum of |w| over every weight: its gradient is sign(w) (0 at w = 0)."""
    return torch.stack([w.abs().sum() for w in weights]).sum()


def random_shift(images: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch moved by its own random (dy, dx), each drawn uniformly
    from -max_shift .. max_shift; pixels shifted in from outside are 0. Returns (B, C, H, W)."""
    b, c, h, w = images.shape
    m, device = max_shift, images.device
    dy, dx = torch.randint(-m, m + 1, (2, b), generator=generator).to(device)  # (B,) each, drawn on the CPU
    padded = nn.functional.pad(images, (m, m, m, m))  # (B, C, H + 2m, W + 2m); pixel (y, x) at (y + m, x + m)
    rows = torch.arange(h, device=device) + m - dy[:, None]  # (B, H): output row y reads input row y - dy
    cols = torch.arange(w, device=device) + m - dx[:, None]  # (B, W)
    moved = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * m))  # (B, C, H, W + 2m)
    return moved.gather(3, cols[:, None, None, :].expand(b, c, h, w))  # (B, C, H, W)


def train_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """The rows (sorted) of an ``n``-example train split kept by ``train_fraction``: a fixed
    random ``round(fraction * n)`` of them (at least one), drawn from ``seed``."""
    keep = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:keep])


def adversarial_batch(model: nn.Module, obs: torch.Tensor, target: torch.Tensor, dataset: Dataset, c) -> torch.Tensor:
    """``obs`` attacked by ``c.adv_train`` (fgsm | pgd) within ``c.adv_eps`` against the loss of the
    task's kind (-reward) on the true ``target``, kept inside the task's input bounds."""
    bounds = (dataset.x_low, dataset.x_high) if math.isfinite(dataset.x_low) and math.isfinite(dataset.x_high) else None
    loss_fn = dataset.kind.loss
    if c.adv_train == "fgsm":
        return attacks.fgsm(model, obs, c.adv_eps, target, bounds=bounds, loss_fn=loss_fn)
    return attacks.pgd(model, obs, c.adv_eps, target, bounds=bounds, loss_fn=loss_fn, steps=c.adv_steps)


def robust_score(model: nn.Module, dataset: Dataset, c, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``dataset`` (a split) attacked by PGD (``c.adv_steps`` steps within ``c.adv_eps``, against the true
    targets) and scored by ``model`` in eval mode: mean ``loss`` and the kind's metric (``accuracy``)."""
    kind, device = dataset.kind, next(model.parameters()).device
    x, y = torch.tensor(dataset.x, device=device), torch.tensor(dataset.y, device=device)  # (N, ...), (N, ...)
    bounds = (dataset.x_low, dataset.x_high) if math.isfinite(dataset.x_low) and math.isfinite(dataset.x_high) else None
    with eval_mode(model):
        x_adv = attacks.pgd(model, x, c.adv_eps, y, bounds=bounds, loss_fn=kind.loss, steps=c.adv_steps,
                            generator=generator)  # fmt: skip
        with torch.no_grad():
            prediction = model(x_adv)
    return {"loss": kind.loss(prediction, y).mean(), kind.metric: kind.score(prediction, y).float().mean()}


# ----------------------------------------------------------------------------- learner
class Supervised(Agent):
    """Backpropagation through a single-step env's reward, with validation early stopping.

    Trains on the ``train`` split, chooses the weights by the ``val`` split (accuracy, ties
    broken by loss; MSE for regression; ``keep_best=false`` keeps the last ones) and reports
    ``evaluate()`` on the ``test`` split, with precision, recall, F1 and ROC-AUC for classification.
    """

    name = "supervised"
    Config = SupervisedConfig
    config: SupervisedConfig
    action_spaces = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.Box)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Any single-step env's action space; :meth:`build` checks the env is one."""
        if not isinstance(action_space, cls.action_spaces):
            raise ValueError(f"supervised does not support the action space {action_space}")

    def build(self) -> None:
        """Network, optimizer, best-weights copy; resolves total_steps = 0 into epochs passes."""
        probe = envs.make_env(self.env_id, **self.env_kwargs)
        single = probe.unwrapped
        probe.close()
        if not isinstance(single, SingleStepEnv):
            raise ValueError(
                f"supervised trains single-step supervised envs ({', '.join(task_env_ids())}); "
                f"{self.env_id} is not one: train it with ppo"
            )
        self.task, self.mode = single.task, single.mode  # mode: how act() answers (label or prediction)
        # a family's task_id and kwargs pick the dataset too (a schedule or distribution is refused)
        self.task_kwargs = {k: v for k, v in self.env_kwargs.items() if k not in ("task", "mode", "render_mode")}
        self.train_set = fixed_dataset(self.task, "train", **self.task_kwargs)
        c = self.config
        self.train_rows = None  # rows of the train split trained on (None: all of them)
        if c.train_fraction < 1:
            self.train_rows = train_subset(len(self.train_set), c.train_fraction, self.seed)
            self.train_set = self.train_set.subset(self.train_rows)
        n_train = len(self.train_set)
        if c.batch_size > n_train:
            raise ValueError(
                f"batch_size {c.batch_size} is larger than the {n_train}-example train set of "
                f"{self.task!r} (train_fraction={c.train_fraction}); use batch_size <= {n_train}"
            )
        if c.total_steps == 0:
            self.config = c = dataclasses.replace(c, total_steps=c.epochs * n_train)
        if c.members > 1 and type(self) is not Supervised:
            raise ValueError(f"members (bagging) belongs to the supervised learner; {self.name} trains one network")
        if c.members == 1:
            self.model = build_predictor(c.net, self.train_set, c).to(self.device)
        else:
            members = [build_predictor(c.net, self.train_set, c) for _ in range(c.members)]
            counts = bootstrap_counts(n_train, c.members)  # (K, N), from the learner's seeded stream
            self.model = Ensemble(members, self.train_set.kind.labelled, counts).to(self.device)
        self.best_model = copy.deepcopy(self.model)
        self.params = list(self.model.parameters())
        self.weights = layer_weights(self.model)  # what l1 penalises; grad_norm/layer{i} is weights[i]'s
        self.optimizer = make_optimizer(self.params, c.optimizer, c.learning_rate, weight_decay=c.weight_decay)
        self.epoch = 0
        """completed passes over the train split"""
        self.best_score: list[float] | None = None  # validation score to beat, compared as a tuple
        self.bad_epochs = 0  # validations in a row without improvement
        self.stopped_early = False
        self.stream_position = 0  # examples served since the train env's last reset
        self._score_envs: dict[str, SingleStepVectorEnv] = {}

    def modules(self):
        """Current weights, the best weights so far, and the optimizer."""
        return {"model": self.model, "best_model": self.best_model, "optimizer": self.optimizer}

    def act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Labels (argmax, or sampled from the softmax) for label-mode envs, raw predictions otherwise
        (the network in eval mode)."""
        if isinstance(self.model, Seq2SeqTransformer) and self.mode == "label" and self.config.beam_size > 1:
            return beam_search(self.model, obs, self.config.beam_size)[0]  # (B, T_out) tokens
        with eval_mode(self.model):
            prediction = self.model(obs)  # (B, n_classes), (B, D) or (B, T, n_classes)
        if self.mode == "prediction":
            return prediction
        return CategoricalHead.mode(prediction) if deterministic else CategoricalHead.sample(prediction)

    def open_envs(self, video_dir=None, video_every: int = 100) -> None:
        """The batched train env on the learner's device (prediction mode, so the reward has a
        gradient). ``video_dir`` is ignored: a batch of examples has no frames to record."""
        c = self.config
        # the finite-value check syncs the device every step: keep it on the CPU only
        self.envs = SingleStepVectorEnv(
            self.task, c.batch_size, "train", "prediction", self.device,
            check_values=self.device.type == "cpu", rows=self.train_rows, **self.task_kwargs,
        )  # fmt: skip
        self.obs, _ = self.envs.reset(seed=self.seed + self.num_timesteps)
        self.stream_position = 0

    def train_iteration(self) -> dict[str, float]:
        """Gradient steps to the end of the current pass over the train split (or of the budget),
        then a validation score and the early-stopping decision."""
        c, batch = self.config, self.config.batch_size
        if self.stopped_early:  # an early-stopped run whose budget was raised: patience anew
            self.stopped_early, self.bad_epochs = False, 0
        n_train = len(self.train_set)
        pass_end = (self.stream_position // n_train + 1) * n_train
        steps = min(-(-(pass_end - self.stream_position) // batch), -(-(c.total_steps - self.num_timesteps) // batch))
        steps = max(steps, 1)
        loss_sum = torch.zeros((), device=self.device)
        grad_norm_sum = torch.zeros(len(self.weights), device=self.device)  # (layers,)
        self.model.train()  # dropout on, batch norm on batch statistics
        for _ in range(steps):
            lr = self.lr_now()
            set_lr(self.optimizer, lr)
            inputs = random_shift(self.obs) if c.augment == "shift" else self.obs  # the batch env_step scores
            if c.adv_train != "none":  # train on the batch as the attack would show it (Madry et al. 2018)
                with eval_mode(
                    self.model
                ):  # the attack reads the network without moving BN statistics or dropping units
                    inputs = adversarial_batch(
                        self.model, inputs, self.envs.unwrapped.pending_targets(), self.train_set, c
                    )
            if c.members == 1:
                prediction = self.forward_train(inputs)
                _, reward, _, _, info = self.env_step(prediction)  # reward = -loss, (B,) with a graph
                loss = supervised_loss(prediction, reward, self.weights, c, info["target"]) + self.auxiliary_loss()
            else:  # bagging: each member learns from its own resample; the env scores the ensemble
                outputs = self.model.member_outputs(inputs)  # (K, B, *prediction_shape)
                _, reward, _, _, info = self.env_step(self.model.combine(outputs))
                targets = info["target"].expand(c.members, *info["target"].shape).flatten(0, 1)  # (K * B, ...)
                member_losses = self.train_set.kind.loss(outputs.flatten(0, 1), targets).view(c.members, -1)
                loss = bagging_loss(member_losses, self.model.counts[:, info["index"]])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm_sum += torch.stack([torch.linalg.vector_norm(w.grad) for w in self.weights])
            clip_grad_norm(self.params, c.max_grad_norm)
            self.optimizer.step()
            loss_sum += loss.detach()
        self.model.eval()
        self.stream_position += steps * batch
        if self.stream_position >= pass_end:
            self.epoch += 1
        self._record_episodes(reward.detach())

        val = self.score_split("val")
        if c.adv_select:  # the same PGD start every epoch, so the epochs are compared on one attack
            robust = robust_score(self.model, fixed_dataset(self.task, "val", **self.task_kwargs), c,
                                  torch.Generator().manual_seed(self.seed))  # fmt: skip
        self.update_best(robust if c.adv_select else val)
        finished = self.num_timesteps >= c.total_steps
        if c.patience and self.bad_epochs >= c.patience:
            self.stopped_early = finished = True
            # the run's budget ends here; resuming with a larger --steps trains on
            self.config = dataclasses.replace(c, total_steps=self.num_timesteps)
        if finished and c.keep_best:
            self.model.load_state_dict(self.best_model.state_dict())
        metrics = {
            "train/loss": float(loss_sum / steps),
            "train/learning_rate": lr,
            "train/epoch": self.epoch,
            "train/stopped_early": float(self.stopped_early),
            "eval/loss": float(val["loss"]),
        }
        metric = self.train_set.kind.metric  # accuracy, mse, ...
        metrics[f"eval/{metric}"] = float(val[metric])
        if c.adv_select:
            metrics[f"eval/robust_{metric}"] = float(robust[metric])
        for i, norm in enumerate((grad_norm_sum / steps).tolist()):  # mean over the iteration's steps
            metrics[f"grad_norm/layer{i}"] = norm
        return metrics

    def auxiliary_loss(self) -> torch.Tensor | float:
        """A term added to each step's loss beyond the labelled batch's (none here; the
        pseudo-label learner adds the loss on confidently predicted unlabelled inputs)."""
        return 0.0

    def forward_train(self, obs: torch.Tensor) -> torch.Tensor:
        """Predictions for the batch the train env waits to score; a teacher-forced decoder
        (net=transformer) also reads the batch's targets, shifted right by one token."""
        if getattr(self.model, "teacher_forced", False):
            return self.model(obs, self.envs.unwrapped.pending_targets())
        return self.model(obs)

    def _record_episodes(self, rewards: torch.Tensor) -> None:
        """Feed the last batch's rewards (one episode each) to ``rollout/ep_rew_mean``; not to
        episodes.csv, which would get a row per example."""
        values = rewards[-self.episodes.returns.maxlen :].tolist()
        self.episodes.returns.extend(values)
        self.episodes.lengths.extend([1] * len(values))

    def update_best(self, scores: dict[str, torch.Tensor]) -> bool:
        """Keep a copy of the weights when ``scores`` (validation) beat the best so far."""
        kind = self.train_set.kind  # the better metric first (accuracy up, mse down); then lower loss
        metric = float(scores[kind.metric])
        score = [-metric if kind.higher_is_better else metric, float(scores["loss"])]
        if self.best_score is not None and not score < self.best_score:
            self.bad_epochs += 1
            return False
        self.best_score, self.bad_epochs = score, 0
        self.best_model.load_state_dict(self.model.state_dict())
        return True

    @torch.no_grad()
    def score_split(self, split: str, report: bool = False) -> dict[str, torch.Tensor]:
        """Every example of ``split`` scored once (the train split: the examples trained on, a
        subset with ``train_fraction``) in eval mode: per-example ``reward`` (N,) (= -loss), mean
        ``loss``, and the kind's metric (``accuracy`` or ``mse``) over the split; with ``report``,
        the kind's further figures too (precision, recall, F1, ROC-AUC for classification)."""
        env = self._score_envs.get(split)
        if env is None:
            rows = self.train_rows if split == "train" else None  # the examples trained on
            n = len(fixed_dataset(self.task, split, **self.task_kwargs)) if rows is None else len(rows)
            batch = min(self.config.eval_batch_size, n)
            env = SingleStepVectorEnv(
                self.task, batch, split, "prediction", self.device, rows=rows, **self.task_kwargs
            )  # fmt: skip
            self._score_envs[split] = env
        obs, _ = env.reset(seed=0)
        kind = env.dataset.kind
        self.model.eval()
        rewards, scores = [], []  # per example: -loss, and the kind's metric (accuracy: 1 if right)
        predictions, targets = [], []
        for _ in range(env.steps_per_epoch):
            prediction = self.model(obs)
            obs, reward, _, _, info = env.step(prediction)
            first_pass = info["epoch"] == 0  # the last batch is topped up from a second pass
            rewards.append(reward[first_pass])
            scores.append(kind.score(prediction, info["target"])[first_pass])
            if report:
                predictions.append(prediction[first_pass])
                targets.append(info["target"][first_pass])
        reward = torch.cat(rewards)  # (N,)
        score = torch.cat(scores)  # (N,)
        result = {"reward": reward, "score": score, "loss": -reward.mean(), kind.metric: score.mean()}
        if report:
            result.update(kind.report(torch.cat(predictions), torch.cat(targets)))
        return result

    def evaluate(
        self, episodes=10, deterministic=True, seed=None, env=None, on_episode=None, split: str = "test"
    ) -> dict[str, float]:
        """Score the whole ``split`` (the **test** split unless told) in batches, one episode per
        example, with the reward of the env's mode — as ``record`` plays it: in label mode 1 for a
        right (argmax) label, in prediction mode -loss. Returns ``mean_reward``, ``loss`` and the
        kind's metric (``accuracy`` or ``mse``). ``episodes``, ``deterministic`` and ``seed`` do
        not apply (every example is scored once, by argmax); with ``env`` given, the base class
        plays that env instead."""
        if env is not None:
            return super().evaluate(episodes, deterministic, seed, env, on_episode)
        scores = self.score_split(split, report=True)
        rewards, score = scores.pop("reward"), scores.pop("score")
        if self.mode == "label":  # the env's reward for a label: 1 when right (fraction right for a sequence)
            rewards = score
        if on_episode is not None:
            for value in rewards.tolist():
                on_episode(value, 1)
        stats = {
            "mean_reward": float(rewards.mean()),
            "std_reward": float(rewards.std(correction=0)),
            "mean_ep_length": 1.0,
        }
        stats.update({k: float(v) for k, v in scores.items()})
        return stats

    def summary(self, metrics: dict[str, float]) -> dict[str, float]:
        """The figure a finished run is judged by: the validation split's metric (``val/accuracy``,
        ``val/mse``) of the weights kept; for classification also ``val/f1_macro`` and ``val/roc_auc``."""
        metric = self.train_set.kind.metric
        scores = self.score_split("val", report=True)
        return {f"val/{name}": float(scores[name]) for name in (metric, "f1_macro", "roc_auc") if name in scores}

    def state_dict(self) -> dict:
        """The base state plus the early-stopping bookkeeping."""
        state = super().state_dict()
        state["early_stopping"] = {
            "epoch": self.epoch,
            "best_score": self.best_score,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
        }
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore from :meth:`state_dict`; a run that stopped early stays stopped unless its
        step budget is raised afterwards."""
        super().load_state_dict(state, weights_only)
        if weights_only or "early_stopping" not in state:
            return
        stopping = state["early_stopping"]
        self.epoch = int(stopping["epoch"])
        self.best_score = stopping["best_score"]
        self.bad_epochs = int(stopping["bad_epochs"])
        self.stopped_early = bool(stopping["stopped_early"])
        if self.stopped_early:
            self.config = dataclasses.replace(self.config, total_steps=self.num_timesteps)

    def init_from(self, other: Supervised) -> list[str]:
        """Start from another supervised run's weights (``--init-from RUN``), e.g. a pre-trained
        body: every weight whose name and shape match is copied; a head whose outputs differ (a
        new task's classes) stays fresh, and so do the optimizer and counters. Returns the names
        of the weights left fresh; ValueError, saying which weights differ, when more than the
        head does not fit."""
        mine, theirs = self.model.state_dict(), other.model.state_dict()
        fits = {name: value for name, value in theirs.items() if name in mine and mine[name].shape == value.shape}
        fresh = sorted(set(mine) - set(fits))
        misfits = [name for name in fresh if not (name.startswith("head.") or ".head." in name)]
        if misfits or not fits:
            shown = ", ".join(misfits[:4]) or "every weight"
            raise ValueError(
                f"the network of {other.env_id} ({other.config.net}) does not fit this run's: {shown} differ; "
                "train with the same net, d_model, n_heads, n_layers and hidden"
            )
        mine.update(fits)
        self.model.load_state_dict(mine)
        self.best_model.load_state_dict(mine)
        return fresh
