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


def actor_head(action_space: gym.Space, in_dim: int, log_std_init: float = 0.0) -> nn.Module:
    """The actor head for ``action_space``: categorical for Discrete, Gaussian for Box."""
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalHead(in_dim, int(action_space.n))
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return GaussianHead(in_dim, action_space.shape[0], log_std_init)
    raise ValueError(
        f"action space {action_space} is not supported; gymlab's actors take Discrete or 1-D Box actions"
    )


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


@dataclass
class PolicyOutput:
    """What an actor-critic returns while acting: one entry per env."""

    actions: torch.Tensor  # (N, *action_shape)
    log_prob: torch.Tensor  # (N,)
    values: torch.Tensor  # (N,)


class ActorCritic(nn.Module):
    """Actor and critic for one env: separate bodies by default (SB3's MlpPolicy layout),
    or one shared body with ``shared=True``. The critic is optional (REINFORCE without baseline)."""

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
    ):
        super().__init__()
        hidden = list(hidden)
        self.obs_space = obs_space
        self.action_space = action_space
        self.pi_body, pi_dim = body(obs_space, hidden, act)
        self.head = actor_head(action_space, pi_dim, log_std_init)
        self.shared = shared
        self.has_critic = critic
        if critic:
            self.vf_body = self.pi_body if shared else body(obs_space, hidden, act)[0]
            self.vf_head = nn.Linear(pi_dim, 1)
        if ortho_init:  # gains from the PPO implementation-details study (SB3, CleanRL use them too)
            orthogonal_init(self.pi_body, math.sqrt(2))
            orthogonal_init(self.head, 0.01)
            if critic:
                if not shared:
                    orthogonal_init(self.vf_body, math.sqrt(2))
                orthogonal_init(self.vf_head, 1.0)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """State values ``(N,)`` for raw observations."""
        x = preprocess(obs, self.obs_space)
        return self.vf_head(self.vf_body(x)).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Distribution parameters and values (None without a critic) for raw observations."""
        x = preprocess(obs, self.obs_space)
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

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Log-prob, entropy and value of given actions: what a policy-gradient loss needs."""
        params, values = self(obs)
        return self.head.log_prob(params, actions), self.head.entropy(params), values
