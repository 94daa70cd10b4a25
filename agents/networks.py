"""Network builders shared by every learner: MLP / CNN / attention bodies, actor heads, critics.

The actor heads work on raw tensors instead of ``torch.distributions`` objects: building a
distribution object per forward pass costs more than the tiny networks the course uses, and the
few formulas needed (log-prob, entropy, sample, mode) are short enough to read and test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return a torch device; ``"auto"`` picks CUDA when present, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return torch.device(device)


def activation(name: str) -> type[nn.Module]:
    """Look up an activation class by name (tanh, relu, gelu, elu, leaky_relu)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(sizes: list[int], act: str = "tanh", output_act: str | None = None) -> nn.Sequential:
    """A multi-layer perceptron: Linear layers of ``sizes`` with ``act`` between them."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation(act)())
        elif output_act is not None:
            layers.append(activation(output_act)())
    return nn.Sequential(*layers)


class CNN(nn.Module):
    """Convolutional body for channel-first images; picks Nature-DQN sizes for large frames
    (>= 36 px) and a small 3x3 stack for tiny ones (the 8x8 digits)."""

    def __init__(self, obs_shape: tuple[int, ...], features: int = 256, act: str = "relu"):
        super().__init__()
        c, h, w = obs_shape
        a = activation(act)
        if min(h, w) >= 36:
            convs = [
                nn.Conv2d(c, 32, 8, stride=4), a(),
                nn.Conv2d(32, 64, 4, stride=2), a(),
                nn.Conv2d(64, 64, 3, stride=1), a(),
            ]  # fmt: skip
        else:
            convs = [
                nn.Conv2d(c, 32, 3, padding=1), a(),
                nn.Conv2d(32, 64, 3, padding=1), a(),
                nn.MaxPool2d(2),
            ]  # fmt: skip
        self.convs = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, c, h, w)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, features), a())
        self.out_dim = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, features)
        return self.head(self.convs(x))


class AttentionEncoder(nn.Module):
    """Self-attention over a sequence of tokens: (B, T, D_in) -> (B, T, d_model)."""

    def __init__(self, in_dim: int, seq_len: int, d_model: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.embed = nn.Linear(in_dim, d_model)
        self.position = nn.Parameter(torch.zeros(1, seq_len, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_dim = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D_in) -> (B, T, d_model)
        return self.encoder(self.embed(x) + self.position)


def orthogonal_init(module: nn.Module, gain: float = math.sqrt(2)) -> None:
    """Orthogonal weights and zero biases for every Linear/Conv layer in ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------- actor heads


class CategoricalHead(nn.Module):
    """Discrete actions: the parameters are logits ``(B, n)``."""

    def __init__(self, in_dim: int, n: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, n)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)

    @staticmethod
    def sample(logits: torch.Tensor) -> torch.Tensor:
        # Gumbel-max: argmax(logits + Gumbel noise) is a sample of softmax(logits).
        u = torch.rand_like(logits).clamp_(1e-20, 1.0)
        return torch.argmax(logits - torch.log(-torch.log(u)), dim=-1)

    @staticmethod
    def mode(logits: torch.Tensor) -> torch.Tensor:
        return torch.argmax(logits, dim=-1)

    @staticmethod
    def log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits, dim=-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def entropy(logits: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits, dim=-1)
        return -(log_p.exp() * log_p).sum(-1)

    @staticmethod
    def log_prob_entropy(logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_prob(actions), entropy)`` from one log-softmax."""
        log_prob, entropy, _ = CategoricalHead.log_prob_entropy_saved(logits, actions)
        return log_prob, entropy

    @staticmethod
    def log_prob_entropy_saved(logits: torch.Tensor, actions: torch.Tensor):
        """:meth:`log_prob_entropy` plus what :meth:`log_prob_entropy_backward` would recompute
        (log-probabilities, probabilities, entropy, action index), to pass it as ``saved``."""
        log_p = torch.log_softmax(logits, dim=-1)
        index = actions.long().unsqueeze(-1)
        p = log_p.exp()
        entropy = (p * log_p).sum(-1).neg_()
        return log_p.gather(-1, index).squeeze(-1), entropy, (log_p, p, entropy, index)

    @staticmethod
    def log_prob_entropy_backward(
        logits: torch.Tensor, actions: torch.Tensor, grad_log_prob: torch.Tensor, grad_entropy: float, saved=None
    ) -> tuple[torch.Tensor, None]:
        """Gradient of ``sum(grad_log_prob * log_prob + grad_entropy * entropy)`` w.r.t. the logits
        ``(B, n)`` (no head parameter of its own: second item None). The closed form of what
        autograd would compute through :meth:`log_prob_entropy`, in a few kernels:
        d log p_a / dz = onehot(a) - p,  d H / dz = -p (log p + H). ``saved`` is the third item of
        :meth:`log_prob_entropy_saved` for these logits and actions (else it is recomputed)."""
        if saved is None:
            saved = CategoricalHead.log_prob_entropy_saved(logits, actions)[2]
        log_p, p, entropy, index = saved
        weight = grad_log_prob.unsqueeze(-1)  # (B, 1)
        if grad_entropy:
            grad = (log_p + entropy.unsqueeze(-1)).mul_(-grad_entropy).sub_(weight).mul_(p)
        else:
            grad = p * weight.neg()
        return grad.scatter_add_(-1, index, weight), None


class GaussianHead(nn.Module):
    """Box actions: a diagonal Gaussian with a state-independent, learned log std."""

    def __init__(self, in_dim: int, action_dim: int, log_std_init: float = 0.0):
        super().__init__()
        self.linear = nn.Linear(in_dim, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)  # the mean; log_std lives on the module

    def sample(self, mean: torch.Tensor) -> torch.Tensor:
        return mean + torch.randn_like(mean) * self.log_std.exp()

    @staticmethod
    def mode(mean: torch.Tensor) -> torch.Tensor:
        return mean

    def log_prob(self, mean: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        log_std = self.log_std
        z = (actions - mean) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self, mean: torch.Tensor) -> torch.Tensor:
        per_dim = 0.5 + 0.5 * math.log(2 * math.pi) + self.log_std
        return per_dim.sum().expand(mean.shape[0])

    def log_prob_entropy(self, mean: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_prob(actions), entropy)``."""
        return self.log_prob(mean, actions), self.entropy(mean)

    def log_prob_entropy_saved(self, mean: torch.Tensor, actions: torch.Tensor):
        """:meth:`log_prob_entropy` and None (the backward has nothing worth keeping)."""
        return self.log_prob(mean, actions), self.entropy(mean), None

    def log_prob_entropy_backward(
        self, mean: torch.Tensor, actions: torch.Tensor, grad_log_prob: torch.Tensor, grad_entropy: float, saved=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient of ``sum(grad_log_prob * log_prob + grad_entropy * entropy)`` w.r.t. the mean
        ``(B, d)`` and ``log_std`` ``(d,)``, in closed form: with z = (a - mean) / std,
        d log p / d mean = z / std, d log p / d log_std = z^2 - 1, d H / d log_std = 1."""
        inv_std = torch.exp(-self.log_std.detach())
        z = (actions - mean) * inv_std
        weight = grad_log_prob.unsqueeze(-1)  # (B, 1)
        grad_mean = weight * z * inv_std
        grad_log_std = (weight * (z * z - 1.0)).sum(0) + grad_entropy * len(mean)
        return grad_mean, grad_log_std


class GSDEHead(nn.Module):
    """Box actions with generalized state-dependent exploration (gSDE; Raffin et al. 2021, "Smooth
    exploration for robotic RL"), as Stable-Baselines3's ``use_sde`` (full std, features not learned
    through the noise, no squashing).

    The noise is a linear function of the actor's last hidden features phi(s): a = mean(s) + phi(s) E,
    with the exploration matrix E ``(features, actions)`` drawn from N(0, std^2), std = exp(log_std),
    and held for several steps (:meth:`resample`), so exploration is smooth in time yet differs from
    state to state. Given phi, the action is Gaussian with per-sample variance
    ``var_j = sum_k phi_k^2 std_kj^2`` (+1e-6): that is what the log-prob and entropy use.

    The parameters are ``(B, actions + features)``: the mean, then phi (detached: the policy
    gradient reaches the body through the mean only, as in SB3).
    """

    EPSILON = 1e-6

    def __init__(self, in_dim: int, action_dim: int, log_std_init: float = 0.0):
        super().__init__()
        self.action_dim = action_dim
        self.linear = nn.Linear(in_dim, action_dim)
        self.log_std = nn.Parameter(torch.full((in_dim, action_dim), float(log_std_init)))
        self.register_buffer("exploration", torch.zeros(1, in_dim, action_dim), persistent=False)
        self.resample(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.linear(features), features.detach()], dim=-1)

    @torch.no_grad()
    def resample(self, n: int) -> None:
        """Draw ``n`` exploration matrices (one per env; row i of a batch of n uses matrix i)."""
        std = self.log_std.exp()
        self.exploration = torch.randn(n, *std.shape, dtype=std.dtype, device=std.device) * std

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean (B, actions), phi (B, features))``."""
        return params[:, : self.action_dim], params[:, self.action_dim :]

    def std(self, phi: torch.Tensor, log_std: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample std ``(B, actions)`` given the features."""
        log_std = self.log_std if log_std is None else log_std
        return torch.sqrt((phi * phi) @ torch.exp(2.0 * log_std) + self.EPSILON)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        mean, phi = self.split(params)
        e = self.exploration
        if len(e) == len(phi):
            return mean + torch.bmm(phi.unsqueeze(1), e).squeeze(1)
        return mean + phi @ e[0]  # a batch of another size (e.g. one eval env): the first matrix for all

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return self.split(params)[0]

    def log_prob_entropy(self, params: torch.Tensor, actions: torch.Tensor, log_std: torch.Tensor | None = None):
        """``(log_prob(actions), entropy)``, both ``(B,)``."""
        mean, phi = self.split(params)
        std = self.std(phi, log_std)
        log_s = torch.log(std)
        z = (actions - mean) / std
        log_prob = (-0.5 * z * z - log_s - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_s).sum(-1)
        return log_prob, entropy

    def log_prob(self, params: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.log_prob_entropy(params, actions)[0]

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        return self.log_prob_entropy(params, self.mode(params))[1]

    def log_prob_entropy_saved(self, params: torch.Tensor, actions: torch.Tensor):
        """:meth:`log_prob_entropy` and None (nothing kept for the backward)."""
        return (*self.log_prob_entropy(params, actions), None)

    def log_prob_entropy_backward(
        self, params: torch.Tensor, actions: torch.Tensor, grad_log_prob: torch.Tensor, grad_entropy: float, saved=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient of ``sum(grad_log_prob * log_prob + grad_entropy * entropy)`` w.r.t. the
        parameters ``(B, actions + features)`` (zero on phi's columns: phi is detached) and ``log_std``
        ``(features, actions)``, in closed form. With s the per-sample std and z = (a - mean) / s:
        d log p / d mean = z / s,  d log p / d s = (z^2 - 1) / s,  d H / d s = 1 / s, and
        d s_bj / d log_std_kj = phi_bk^2 std_kj^2 / s_bj."""
        mean, phi = self.split(params)
        std2 = torch.exp(2.0 * self.log_std.detach())  # (F, A)
        variance = (phi * phi) @ std2 + self.EPSILON  # (B, A)
        z = (actions - mean) / variance.sqrt()
        weight = grad_log_prob.unsqueeze(-1)  # (B, 1)
        grad_params = torch.zeros_like(params)
        grad_params[:, : self.action_dim] = weight * z / variance.sqrt()
        per_variance = (weight * (z * z - 1.0) + grad_entropy) / variance  # d/ds * (1/s), (B, A)
        grad_log_std = std2 * ((phi * phi).t() @ per_variance)
        return grad_params, grad_log_std


def actor_head(action_space: gym.Space, in_dim: int, log_std_init: float = 0.0, use_sde: bool = False) -> nn.Module:
    """The actor head for ``action_space``: categorical for Discrete, Gaussian for Box (gSDE with
    ``use_sde``)."""
    if use_sde and not (isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1):
        raise ValueError(f"use_sde needs 1-D Box actions, not {action_space}; set use_sde=false")
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalHead(in_dim, int(action_space.n))
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if use_sde:
            return GSDEHead(in_dim, action_space.shape[0], log_std_init)
        return GaussianHead(in_dim, action_space.shape[0], log_std_init)
    raise ValueError(f"action space {action_space} is not supported; gymlab's actors take Discrete or 1-D Box actions")


# ----------------------------------------------------------------------------- observations


def obs_dim(space: gym.Space) -> int:
    """Size of a flattened observation from ``space``."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise ValueError(f"observation space {space} is not supported; use a Box or Discrete space")


def is_image(space: gym.Space) -> bool:
    """True for channel-first or channel-last image Boxes (3-D)."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


def preprocess(obs: torch.Tensor, space: gym.Space) -> torch.Tensor:
    """Turn a batch of raw observations into the float input the body expects."""
    if isinstance(space, gym.spaces.Discrete):
        return nn.functional.one_hot(obs.long(), int(space.n)).float()
    if is_image(space):
        x = obs.float()
        if space.dtype == np.uint8:
            x = x / 255.0
        if space.shape[-1] in (1, 3, 4) and space.shape[0] not in (1, 3, 4):
            x = x.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
        return x
    return obs.float().reshape(obs.shape[0], -1)


class RunningMeanStd(nn.Module):
    """Running mean and variance of a stream of arrays, merged batch by batch (Chan, Golub and
    LeVeque's parallel update), kept as buffers so a checkpoint carries them. Behind observation
    normalisation (:class:`ActorCritic` with ``normalize_obs``) and reward scaling
    (:class:`agents.rollout.RewardScaler`), as Stable-Baselines3's VecNormalize keeps them.

    :meth:`normalize` maps ``x`` to ``(x - mean) / sqrt(var + epsilon)``, clipped to ``[-clip, clip]``.
    """

    def __init__(self, shape: tuple[int, ...] = (), clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.clip, self.epsilon = float(clip), float(epsilon)
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))  # VecNormalize's prior

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch ``(B, *shape)`` into the statistics."""
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, *self.mean.shape)
        n = len(batch)
        if n == 0:
            return
        on_cpu = self.mean.device.type == "cpu"
        mean, var, count = (t.numpy() if on_cpu else t.cpu().numpy() for t in (self.mean, self.var, self.count))
        prior, total = float(count), float(count) + n
        batch_mean = np.add.reduce(batch, axis=0) / n  # np.mean and np.var cost several us more
        centred = batch - batch_mean
        delta = batch_mean - mean
        m2 = var * prior + np.add.reduce(centred * centred, axis=0) + delta * delta * (prior * n / total)
        new_mean, new_var = mean + delta * (n / total), m2 / total
        if on_cpu:  # written through the numpy views: no torch call (reward scaling runs this every env step)
            mean[...], var[...], count[...] = new_mean, new_var, total
            self.__dict__["_writes"] = self.__dict__.get("_writes", 0) + 1
        else:
            self.mean.copy_(torch.from_numpy(np.asarray(new_mean)))
            self.var.copy_(torch.from_numpy(np.asarray(new_var)))
            self.count.fill_(total)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` standardised with the statistics so far (float32 in, float32 out)."""
        scale = (self.var + self.epsilon).rsqrt()
        return ((x - self.mean.to(x.dtype)) * scale.to(x.dtype)).clamp_(-self.clip, self.clip)

    def normalize_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`normalize` for a float32 numpy batch (statistics on the CPU)."""
        # torch's in-place writes (load_state_dict) bump a tensor's version counter; update's
        # writes through numpy count in _writes
        writes = self.__dict__.get("_writes", 0)
        key = (self.mean.data_ptr(), self.mean._version, self.var.data_ptr(), self.var._version, writes)
        cached = self.__dict__.get("_numpy_cache")
        if cached is None or cached[0] != key:
            mean = self.mean.numpy().astype(np.float32)
            scale = (1.0 / np.sqrt(self.var.numpy() + self.epsilon)).astype(np.float32)
            cached = (key, mean, scale)
            self.__dict__["_numpy_cache"] = cached
        y = (x - cached[1]) * cached[2]
        return np.clip(y, -self.clip, self.clip, out=y)


def image_shape(space: gym.Space) -> tuple[int, int, int]:
    """Channel-first shape of an image observation space."""
    s = space.shape
    return (s[2], s[0], s[1]) if s[-1] in (1, 3, 4) and s[0] not in (1, 3, 4) else tuple(s)


def body(space: gym.Space, hidden: list[int], act: str) -> tuple[nn.Module, int]:
    """A feature extractor for ``space``: a CNN for images, else an MLP. Returns (module, out_dim)."""
    if is_image(space):
        net = CNN(image_shape(space), features=hidden[-1] if hidden else 256)
        return net, net.out_dim
    if not hidden:
        return nn.Identity(), obs_dim(space)
    return mlp([obs_dim(space), *hidden], act, output_act=act), hidden[-1]


# ----------------------------------------------------------------------------- fused MLP actor-critic
#
# The course's policies are two small MLPs (actor and critic, 64x64 tanh) reading the same
# observation. Run as nn.Sequential they cost ~40 tiny kernels and autograd nodes per update, and
# on CPU the per-op overhead and two quirks dominate the arithmetic:
#   * torch.tanh is not vectorised on CPU (about 5x slower than torch.sigmoid on a (256, 64) tensor),
#     so tanh(z) is computed as 2 * sigmoid(2 z) - 1, with the 2 folded into the matmul (alpha/beta);
#   * MKL is slow for (out, B) @ (B, in) with a tiny ``in`` (the first layer's weight gradient when
#     obs has 4 dims: ~90 us instead of ~8 us); computing its transpose (in, B) @ (B, out) is fast.
# So the K bodies (K = 2: actor and critic; K = 1: one body) are stacked: layer 0 is one Linear of
# width K * h (same input), later layers one batched matmul of K blocks (block-diagonal, so exactly
# the K separate MLPs), and forward + backward of bodies and heads run as one autograd Function.


NUMPY_ACT_ROWS = 64
"""Largest batch :meth:`ActorCritic.act_numpy` serves (acting in up to this many envs)."""

SIGMOID_TANH_ROWS = 64
"""Batches of at least this many rows compute a CPU tanh as 2 sigmoid(2x) - 1 (see the note above);
smaller ones (acting in a few envs) call tanh, one kernel instead of three launches."""


def _act_scale(act: str, x: torch.Tensor) -> float:
    """What the matmul before :func:`_hidden_act` multiplies its result by (2 for the CPU tanh
    computed through a sigmoid)."""
    return 2.0 if act == "tanh" and not x.is_cuda and x.shape[0] >= SIGMOID_TANH_ROWS else 1.0


def _hidden_act(z: torch.Tensor, act: str, scale: float) -> torch.Tensor:
    """In-place activation of a pre-activation multiplied by ``scale`` (:func:`_act_scale`)."""
    if act == "relu":
        return z.relu_()
    if scale == 1.0:  # GPUs have a fast tanh, and small CPU batches pay per kernel
        return z.tanh_()
    return z.sigmoid_().mul_(2.0).sub_(1.0)  # tanh(x) = 2 sigmoid(2x) - 1, z = 2x


def _hidden_act_backward(grad: torch.Tensor, y: torch.Tensor, act: str, out: torch.Tensor | None = None):
    """Gradient through the activation from its output ``y`` (tanh' = 1 - y^2, relu' = [y > 0])."""
    if act == "relu":
        result = torch.ops.aten.threshold_backward(grad, y, 0.0)
    else:
        result = torch.ops.aten.tanh_backward(grad, y)
    if out is None:
        return result
    return out.copy_(result)


def _fused_forward(x, act, weights, biases, pi_w, pi_b, vf_w, vf_b):
    """Forward of the fused bodies (:class:`FusedMLPBodies`) and heads; returns (params, values or
    None, every hidden layer's output (K, B, h))."""
    k = weights[0].shape[0]
    scale = _act_scale(act, x)
    # layer 0: the K blocks read the same input (expanded, not copied); every hidden output is a
    # contiguous (K, B, h), the layout the batched matmuls and the backward's kernels are fastest on
    ys = [_hidden_act(torch.baddbmm(biases[0].unsqueeze(1), x.expand(k, *x.shape), weights[0].transpose(1, 2),
                                    beta=scale, alpha=scale), act, scale)]  # fmt: skip
    for w, b in zip(weights[1:], biases[1:]):  # (K, out, in) blocks: (K, B, in) -> (K, B, out)
        z = torch.baddbmm(b.unsqueeze(1), ys[-1], w.transpose(1, 2), beta=scale, alpha=scale)
        ys.append(_hidden_act(z, act, scale))
    last = ys[-1]
    params = torch.addmm(pi_b, last[0], pi_w.t())  # (B, n) logits or means
    values = None if vf_w is None else torch.addmm(vf_b, last[k - 1], vf_w.t()).squeeze(-1)  # (B,)
    return params, values, ys


class _FusedMLPFunction(torch.autograd.Function):
    """Bodies and heads in one autograd node with a hand-written backward (see the note above)."""

    @staticmethod
    def forward(ctx, x, act, n_layers, *tensors):
        weights, biases = tensors[:n_layers], tensors[n_layers : 2 * n_layers]
        pi_w, pi_b = tensors[2 * n_layers], tensors[2 * n_layers + 1]
        vf_w, vf_b = (
            (tensors[2 * n_layers + 2], tensors[2 * n_layers + 3]) if len(tensors) > 2 * n_layers + 2 else (None, None)
        )
        params, values, ys = _fused_forward(x, act, weights, biases, pi_w, pi_b, vf_w, vf_b)
        ctx.act, ctx.n_layers = act, n_layers
        ctx.save_for_backward(x, *tensors, *ys)
        if values is None:
            return params
        return params, values

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_params, grad_values=None):
        n_layers, saved = ctx.n_layers, ctx.saved_tensors
        x, tensors, ys = saved[0], saved[1 : len(saved) - n_layers], saved[len(saved) - n_layers :]
        grads = _fused_backward(ctx.act, n_layers, x, tensors, ys, grad_params, grad_values, ctx.needs_input_grad[0])
        return (grads[0], None, None, *grads[1:])


def _fused_backward(act, n_layers, x, tensors, ys, grad_params, grad_values, need_grad_x=False):
    """Backward of :func:`_fused_forward` (``tensors`` as it read them, ``ys`` its hidden outputs):
    returns the gradient w.r.t. ``x`` (None unless ``need_grad_x``), then one per tensor, in order."""
    weights = tensors[:n_layers]
    pi_w = tensors[2 * n_layers]
    has_critic = len(tensors) > 2 * n_layers + 2
    vf_w = tensors[2 * n_layers + 2] if has_critic else None
    k = ys[-1].shape[0]
    last = ys[-1]
    # heads: (B, n) -> grads of head weights and of the last hidden layer (K, B, h)
    head_grads = [grad_params.t().mm(last[0]), grad_params.sum(0)]
    if k == 1:
        grad_y = grad_params.mm(pi_w)
        if vf_w is not None:
            grad_y.addmm_(grad_values.unsqueeze(1), vf_w)
        grad_y = grad_y.unsqueeze(0)
    else:
        grad_y = torch.empty_like(last, memory_format=torch.contiguous_format)
        torch.mm(grad_params, pi_w, out=grad_y[0])
        torch.mm(grad_values.unsqueeze(1), vf_w, out=grad_y[1])
    if vf_w is not None:
        head_grads += [grad_values.unsqueeze(0).mm(last[k - 1]), grad_values.sum(0, keepdim=True)]
    weight_grads, bias_grads = [None] * n_layers, [None] * n_layers
    for i in range(n_layers - 1, 0, -1):
        grad_z = _hidden_act_backward(grad_y, ys[i], act)  # (K, B, out)
        weight_grads[i] = torch.bmm(grad_z.transpose(1, 2), ys[i - 1])  # (K, out, in)
        bias_grads[i] = grad_z.sum(1)
        grad_y = torch.bmm(grad_z, weights[i])  # (K, B, in)
    grad_z0 = _hidden_act_backward(grad_y, ys[0], act)  # (K, B, h0)
    x_t = x.t()  # (D, B) @ (B, h0) per block, then transposed: the fast shape for a small D
    weight_grads[0] = torch.bmm(x_t.expand(k, *x_t.shape), grad_z0).transpose(1, 2).contiguous()
    bias_grads[0] = grad_z0.sum(1)
    grad_x = torch.bmm(grad_z0, weights[0]).sum(0) if need_grad_x else None
    return (grad_x, *weight_grads, *bias_grads, *head_grads)


class FusedMLPBodies(nn.Module):
    """K MLP bodies of the same sizes on the same input (K = 2: separate actor and critic), stored
    stacked: ``weights[l]`` is ``(K, out, in)``, ``biases[l]`` is ``(K, out)``. Block k is exactly the
    k-th separate MLP: initialise, read or copy it through :meth:`block`."""

    def __init__(self, in_dim: int, hidden: list[int], act: str, k: int = 2):
        super().__init__()
        if act not in ("tanh", "relu"):
            raise ValueError(f"FusedMLPBodies supports tanh and relu, not {act!r}")
        sizes = [in_dim, *hidden]
        self.act, self.k = act, k
        self.weights = nn.ParameterList(torch.empty(k, o, i) for i, o in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(torch.empty(k, o) for o in sizes[1:])
        for block in range(k):  # nn.Linear's default initialisation, per block
            for weight, bias in self.block(block):
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
                bound = 1.0 / math.sqrt(weight.shape[1])
                nn.init.uniform_(bias, -bound, bound)

    def block(self, k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (out, in), bias (out,)) per layer of body ``k``, as views of the stacked parameters."""
        return [(w.data[k], b.data[k]) for w, b in zip(self.weights, self.biases)]

    def orthogonal_init(self, gain: float) -> None:
        """Orthogonal weights and zero biases, block by block (as separate Linear layers get)."""
        for block in range(self.k):
            for weight, bias in self.block(block):
                nn.init.orthogonal_(weight, gain)
                nn.init.zeros_(bias)


@dataclass
class PolicyOutput:
    """What an actor-critic returns while acting: one entry per env."""

    actions: torch.Tensor  # (N, *action_shape)
    log_prob: torch.Tensor  # (N,)
    values: torch.Tensor  # (N,)


class ActorCritic(nn.Module):
    """Actor and critic for one env: separate bodies by default (SB3's MlpPolicy layout),
    or one shared body with ``shared=True``. The critic is optional (REINFORCE without baseline).

    MLP bodies with tanh or relu run fused (:class:`FusedMLPBodies`, one autograd node for bodies
    and heads); images and other activations use ordinary modules (``pi_body``, ``vf_body``).
    """

    @classmethod
    def for_agent(cls, agent, critic: bool = True) -> ActorCritic:
        """The actor-critic an on-policy learner's config describes (hidden, activation, shared,
        ortho_init, log_std_init, normalize_obs, use_sde), for the learner's spaces, on its device."""
        c = agent.config
        return cls(
            agent.observation_space, agent.action_space, c.hidden, c.activation, shared=c.shared,
            critic=critic, ortho_init=c.ortho_init, log_std_init=c.log_std_init, normalize_obs=c.normalize_obs,
            use_sde=c.use_sde,
        ).to(agent.device)  # fmt: skip

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        hidden: list[int] = (64, 64),
        act: str = "tanh",
        shared: bool = False,
        critic: bool = True,
        ortho_init: bool = True,
        log_std_init: float = 0.0,
        normalize_obs: bool = False,
        use_sde: bool = False,
    ):
        super().__init__()
        hidden = list(hidden)
        self.obs_space = obs_space
        self.obs_rms: RunningMeanStd | None = None
        if normalize_obs:
            if not isinstance(obs_space, gym.spaces.Box) or is_image(obs_space):
                raise ValueError(f"normalize_obs needs flat Box observations, not {obs_space}; set normalize_obs=false")
            self.obs_rms = RunningMeanStd((obs_dim(obs_space),))
        self.action_space = action_space
        self.shared = shared
        self.has_critic = critic
        self.fused = bool(hidden) and act in ("tanh", "relu") and not is_image(obs_space)
        if self.fused:
            k = 2 if critic and not shared else 1
            self.bodies = FusedMLPBodies(obs_dim(obs_space), hidden, act, k)
            pi_dim = hidden[-1]
        else:
            self.pi_body, pi_dim = body(obs_space, hidden, act)
            if critic:
                self.vf_body = self.pi_body if shared else body(obs_space, hidden, act)[0]
        self.head = actor_head(action_space, pi_dim, log_std_init, use_sde)
        self.sde = isinstance(self.head, GSDEHead)  # its parameters end with the actor's last hidden features
        if critic:
            self.vf_head = nn.Linear(pi_dim, 1)
        if self.fused:  # a tuple, not registered as submodules: for _fused_tensors
            self._n_layers = len(hidden)
            self._fused_linears = (self.head.linear, self.vf_head) if critic else (self.head.linear,)
        if ortho_init:  # gains from the PPO implementation-details study (SB3, CleanRL use them too)
            if self.fused:
                self.bodies.orthogonal_init(math.sqrt(2))
            else:
                orthogonal_init(self.pi_body, math.sqrt(2))
                if critic and not shared:
                    orthogonal_init(self.vf_body, math.sqrt(2))
            orthogonal_init(self.head, 0.01)
            if critic:
                orthogonal_init(self.vf_head, 1.0)

    def _fused_tensors(self) -> list[torch.Tensor]:
        """What the fused forward reads, in order: body weights, body biases, actor head weight and
        bias, then the critic head's. Read from the parameter dicts: acting calls this every env
        step, and the ~20 ``Module.__getattr__`` / ``ParameterList`` lookups it replaces cost ~15 us."""
        bodies = self.bodies
        tensors = [*bodies.weights._parameters.values(), *bodies.biases._parameters.values()]
        for linear in self._fused_linears:
            tensors += (linear._parameters["weight"], linear._parameters["bias"])
        return tensors

    def forward_update(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, tuple | None]:
        """:meth:`forward` for an update whose loss gradient w.r.t. the outputs is known in closed
        form: ``(params, values, saved)``, for :func:`actor_critic_backward`. Fused MLPs run without
        autograd and keep in ``saved`` what their hand-written backward reads (the autograd engine
        and node cost more than the backward's arithmetic at these sizes); other bodies record
        autograd as usual (``saved`` is None)."""
        if not self.fused:
            return (*self(obs), None)
        x = self.features_in(obs)
        tensors = self._fused_tensors()
        with torch.no_grad():
            params, values, ys = self._fused_outputs(x, tensors)
        return params, values, (x, tensors, ys)

    def _fused_outputs(self, x: torch.Tensor, tensors: list[torch.Tensor]):
        """:func:`_fused_forward` of this network on body input ``x``, without autograd: ``(params,
        values or None, hidden outputs)``, gSDE's params ending with the actor's last hidden features."""
        n_layers = self._n_layers
        weights, biases, heads = tensors[:n_layers], tensors[n_layers : 2 * n_layers], tensors[2 * n_layers :]
        params, values, ys = _fused_forward(x, self.bodies.act, weights, biases, *heads, *[None] * (4 - len(heads)))
        return (torch.cat([params, ys[-1][0]], dim=1) if self.sde else params), values, ys

    def features_in(self, obs: torch.Tensor) -> torch.Tensor:
        """What the bodies read: :func:`preprocess`, then standardised with ``obs_rms`` when normalising."""
        x = preprocess(obs, self.obs_space)
        return x if self.obs_rms is None else self.obs_rms.normalize(x)

    def reset_noise(self, n_envs: int) -> None:
        """Draw new gSDE exploration matrices, one per env (no-op for other heads)."""
        if isinstance(self.head, GSDEHead):
            self.head.resample(n_envs)

    def update_obs_stats(self, obs: np.ndarray) -> None:
        """Merge a batch of raw observations into ``obs_rms`` (no-op without ``normalize_obs``).
        Learners call it once per iteration, after the update, so one iteration's acting and
        learning see the same statistics (a PPO ratio starts at exactly 1)."""
        if self.obs_rms is not None:
            self.obs_rms.update(np.asarray(obs).reshape(-1, self.obs_rms.mean.shape[0]))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """State values ``(N,)`` for raw observations."""
        if self.fused:
            return self(obs)[1]
        x = self.features_in(obs)
        return self.vf_head(self.vf_body(x)).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Distribution parameters and values (None without a critic) for raw observations."""
        x = self.features_in(obs)
        if self.fused:
            tensors = self._fused_tensors()
            if not torch.is_grad_enabled():  # acting: no autograd node to build
                return self._fused_outputs(x, tensors)[:2]
            out = _FusedMLPFunction.apply(x, self.bodies.act, self._n_layers, *tensors)
            params, values = out if self.has_critic else (out, None)
            if self.sde:  # gSDE's features carry no gradient: a forward without autograd gives them
                with torch.no_grad():
                    phi = self._fused_outputs(x, tensors)[2][-1][0]
                params = torch.cat([params, phi], dim=1)
            return params, values
        features = self.pi_body(x)
        params = self.head(features)
        if not self.has_critic:
            return params, None
        vf_features = features if self.shared else self.vf_body(x)
        return params, self.vf_head(vf_features).squeeze(-1)

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> PolicyOutput:
        """Sample (or take the mode of) actions, with their log-probs and values."""
        params, values = self(obs)
        actions = self.head.mode(params) if deterministic else self.head.sample(params)
        log_prob = self.head.log_prob(params, actions)
        if values is None:
            values = torch.zeros_like(log_prob)
        return PolicyOutput(actions, log_prob, values)

    # ------------------------------------------------------------- acting in numpy
    #
    # Collecting a rollout calls the policy once per vector step on a handful of observations,
    # between env steps. At that size every torch kernel launch (~3-5 us, more with the env's code
    # evicting torch's from the caches) outweighs its arithmetic, so a fused MLP on the CPU acts
    # in numpy on views of its own weights (no copy: an optimizer step is seen at once), with the
    # learner's numpy generator for sampling. Same network, same distribution, ~4x fewer us.

    def numpy_acting(self, obs: np.ndarray) -> bool:
        """Whether :meth:`act_numpy` serves this batch: a fused MLP on the CPU, flat float
        observations, at most ``NUMPY_ACT_ROWS`` of them."""
        return (
            self.fused and self.head.linear.weight.device.type == "cpu" and isinstance(obs, np.ndarray)
            and obs.dtype == np.float32 and obs.ndim == 2 and len(obs) <= NUMPY_ACT_ROWS
            and isinstance(self.obs_space, gym.spaces.Box)
        )  # fmt: skip

    def _numpy_views(self) -> list[np.ndarray]:
        """Numpy views of :meth:`_fused_tensors`, made again only when a tensor's storage moved."""
        tensors = self._fused_tensors()
        key = tuple(t.data_ptr() for t in tensors)
        cached = self.__dict__.get("_numpy_cache")
        if cached is None or cached[0] != key:
            cached = (key, [t.detach().numpy() for t in tensors])
            self.__dict__["_numpy_cache"] = cached
        return cached[1]

    def _numpy_forward(self, obs: np.ndarray, values: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The fused forward in numpy: (params (B, n), values (B,) or None, the actor's last hidden
        features (B, h)); for gSDE the params are the mean alone."""
        tensors = self._numpy_views()
        n_layers, relu = self._n_layers, self.bodies.act == "relu"
        y = obs if self.obs_rms is None else self.obs_rms.normalize_numpy(obs)
        for w, b in zip(tensors[:n_layers], tensors[n_layers : 2 * n_layers]):  # (K, out, in), (K, out)
            y = np.matmul(y, w.transpose(0, 2, 1))
            y += b[:, None, :]
            if relu:
                np.maximum(y, 0.0, out=y)
            else:
                np.tanh(y, out=y)
        heads = tensors[2 * n_layers :]
        params = y[0] @ heads[0].T + heads[1]
        value = (y[-1] @ heads[2].T)[:, 0] + heads[3][0] if values and len(heads) == 4 else None
        return params, value, y[0]

    def act_numpy(
        self, obs: np.ndarray, rng: np.random.Generator, deterministic: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`act` for a numpy batch (:meth:`numpy_acting` must hold): actions, their
        log-probs and the values (zeros without a critic), as numpy arrays."""
        params, values, phi = self._numpy_forward(obs)
        if isinstance(self.head, CategoricalHead):
            shifted = params - params.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            if deterministic:
                actions = log_p.argmax(axis=1)
            else:  # inverse CDF: the first action whose cumulative probability passes u
                cdf = np.exp(log_p).cumsum(axis=1)
                actions = (cdf < rng.random((len(obs), 1), dtype=np.float32) * cdf[:, -1:]).sum(axis=1)
            log_prob = log_p[np.arange(len(actions)), actions]
        elif self.sde:  # GSDEHead's formulas: noise phi E with the held matrices, per-sample std
            head = self.head
            std = np.sqrt((phi * phi) @ np.exp(2.0 * head.log_std.detach().numpy()) + np.float32(head.EPSILON))
            if deterministic:
                actions = params
            else:
                e = head.exploration.numpy()  # (n, h, d)
                noise = np.matmul(phi[:, None, :], e)[:, 0] if len(e) == len(phi) else phi @ e[0]
                actions = params + noise
            z = (actions - params) / std
            log_prob = (-0.5 * z * z - np.log(std) - np.float32(0.5 * math.log(2 * math.pi))).sum(axis=1)
        else:
            log_std = self.head.log_std.detach().numpy()
            if deterministic:
                actions = params
            else:
                actions = params + rng.standard_normal(params.shape, dtype=np.float32) * np.exp(log_std)
            z = (actions - params) * np.exp(-log_std)
            log_prob = (-0.5 * z * z - log_std - np.float32(0.5 * math.log(2 * math.pi))).sum(axis=1)
        if values is None:
            values = np.zeros(len(obs), dtype=np.float32)
        return actions, log_prob.astype(np.float32, copy=False), values

    def value_numpy(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`value` for a numpy batch (:meth:`numpy_acting` must hold); zeros without a critic."""
        values = self._numpy_forward(obs)[1]
        return np.zeros(len(obs), dtype=np.float32) if values is None else values

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Log-prob, entropy and value of given actions: what a policy-gradient loss needs."""
        params, values = self(obs)
        log_prob, entropy = self.head.log_prob_entropy(params, actions)
        return log_prob, entropy, values


def actor_critic_backward(
    policy: ActorCritic,
    params: torch.Tensor,
    values: torch.Tensor | None,
    actions: torch.Tensor,
    grad_log_prob: torch.Tensor,
    grad_entropy: float,
    grad_values: torch.Tensor | None,
    saved: tuple | None = None,
    head_saved=None,
) -> None:
    """Accumulate into the policy's ``.grad`` the gradient of a loss given by its derivatives
    w.r.t. the outputs: ``grad_log_prob`` ``(B,)`` and ``grad_entropy`` (one float, the same for
    every sample) w.r.t. the head's ``log_prob_entropy(params, actions)``, and ``grad_values`` ``(B,)``
    w.r.t. ``values``. ``params, values = policy(obs)`` with autograd recording, or
    ``params, values, saved = policy.forward_update(obs)``; ``head_saved`` is the third item of the
    head's ``log_prob_entropy_saved(params, actions)`` when the caller has it.

    The head's closed-form backward turns the first two into a gradient w.r.t. ``params`` (and the
    Gaussian ``log_std``), then the network's backward runs -- its hand-written one when ``saved``
    is given, else one autograd pass -- the same gradient as ``loss.backward()`` without the
    loss's tiny autograd nodes.
    """
    head = policy.head
    with torch.no_grad():
        grad_params, grad_log_std = head.log_prob_entropy_backward(
            params, actions, grad_log_prob, grad_entropy, head_saved
        )
        if saved is not None:
            x, tensors, ys = saved
            if values is None or grad_values is None:
                grad_values = torch.zeros(len(params), dtype=params.dtype, device=params.device)
            if policy.sde:  # the bodies produced the mean; gSDE's phi columns carry no gradient
                grad_params = grad_params[:, : policy.head.action_dim].contiguous()
            grads = _fused_backward(policy.bodies.act, policy._n_layers, x, tensors, ys, grad_params, grad_values)[1:]
            _accumulate_grads(tensors, grads)
    if saved is None:
        if values is None or grad_values is None:
            torch.autograd.backward(params, grad_params)
        else:
            torch.autograd.backward((params, values), (grad_params, grad_values))
    if grad_log_std is not None:
        _accumulate_grads([head.log_std], [grad_log_std])


def _accumulate_grads(tensors: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """``t.grad += g`` for each pair, as autograd accumulates (a missing ``.grad`` becomes ``g``)."""
    existing = [(t.grad, g) for t, g in zip(tensors, grads) if t.grad is not None]
    for t, g in zip(tensors, grads):
        if t.grad is None:
            t.grad = g.detach()
    if existing:
        torch._foreach_add_([e[0] for e in existing], [e[1] for e in existing])
