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

from agents import fast as fast_path

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


CNN_LAYOUTS = ("auto", "nature", "small", "minatar")
"""Values of ``cnn``: auto = nature for frames of 36 px and more, small below."""


class CNN(nn.Module):
    """Convolutional body for channel-first images. ``layout``: ``nature`` (Mnih et al. 2015's three
    layers, for Atari-size frames), ``small`` (two 3x3 layers of 32 and 64 and a 2x2 max-pool, for
    the 8x8 digits), ``minatar`` (one 3x3 layer of 16, Young & Tian 2019's network for 10x10
    MinAtar boards), or ``auto``: nature for frames of 36 px and more, small below."""

    def __init__(self, obs_shape: tuple[int, ...], features: int = 256, act: str = "relu", layout: str = "auto"):
        super().__init__()
        c, h, w = obs_shape
        a = activation(act)
        if layout == "auto":
            layout = "nature" if min(h, w) >= 36 else "small"
        if layout == "nature":
            convs = [
                nn.Conv2d(c, 32, 8, stride=4), a(),
                nn.Conv2d(32, 64, 4, stride=2), a(),
                nn.Conv2d(64, 64, 3, stride=1), a(),
            ]  # fmt: skip
        elif layout == "minatar":
            convs = [nn.Conv2d(c, 16, 3, stride=1), a()]
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
        log_p = torch.log_softmax(logits, dim=-1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy


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
        if space.dtype == np.uint8:  # to [0, 1]: 255 for camera frames, 1 for MinAtar's 0/1 channels
            x = x / float(np.max(space.high))
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


def body(space: gym.Space, hidden: list[int], act: str, cnn: str = "auto") -> tuple[nn.Module, int]:
    """A feature extractor for ``space``: a CNN (of layout ``cnn``) for images, else an MLP.
    Returns (module, out_dim)."""
    if is_image(space):
        net = CNN(image_shape(space), features=hidden[-1] if hidden else 256, layout=cnn)
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
    or one shared body with ``shared=True``. The critic is optional (REINFORCE without baseline).

    ``pi_body`` and ``vf_body`` are ordinary modules (an MLP, or a CNN for images). With ``fast``,
    MLP bodies with tanh or relu also get the speed machinery of :mod:`agents.fast` (stacked
    bodies, a hand-written backward, numpy acting): the same function, in fewer kernels.
    """

    @classmethod
    def for_agent(cls, agent, critic: bool = True) -> ActorCritic:
        """The actor-critic an on-policy learner's config describes (hidden, activation, shared,
        ortho_init, log_std_init, normalize_obs, use_sde, fast), for the learner's spaces, on its device."""
        c = agent.config
        return cls(
            agent.observation_space, agent.action_space, c.hidden, c.activation, shared=c.shared,
            critic=critic, ortho_init=c.ortho_init, log_std_init=c.log_std_init, normalize_obs=c.normalize_obs,
            use_sde=c.use_sde, fast=c.fast, cnn=c.cnn,
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
        fast: bool = True,
        cnn: str = "auto",
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
        self.pi_body, pi_dim = body(obs_space, hidden, act, cnn)
        if critic:
            self.vf_body = self.pi_body if shared else body(obs_space, hidden, act, cnn)[0]
        self.head = actor_head(action_space, pi_dim, log_std_init, use_sde)
        self.sde = isinstance(self.head, GSDEHead)  # its parameters end with the actor's last hidden features
        self.discrete = isinstance(self.head, CategoricalHead)
        if critic:
            self.vf_head = nn.Linear(pi_dim, 1)
        if ortho_init:  # gains from the PPO implementation-details study (SB3, CleanRL use them too)
            orthogonal_init(self.pi_body, math.sqrt(2))
            if critic and not shared:
                orthogonal_init(self.vf_body, math.sqrt(2))
            orthogonal_init(self.head, 0.01)
            if critic:
                orthogonal_init(self.vf_head, 1.0)
        self.mlp_bodies = bool(hidden) and not is_image(obs_space)
        self.fused = fast and self.mlp_bodies and act in ("tanh", "relu")  # agents.fast runs it
        self.bodies_act, self.n_layers = act, len(hidden)
        if self.fused:
            self._fast_linears = tuple(self.parameters())  # what agents.fast's caches are keyed on
            fast_path.stack_bodies(self)

    def _apply(self, fn, *args, **kwargs):
        """Module.to / .cuda / ...: moving re-homes each tensor; stack the bodies again after."""
        module = super()._apply(fn, *args, **kwargs)
        if getattr(self, "fused", False):
            fast_path.stack_bodies(self)
        return module

    def flat_parameters(self) -> list[nn.Parameter]:
        """The parameters in the order :func:`agents.optim.make_flat_optimizer` lays them out: for
        MLP bodies, each layer's weight of every body, then the biases the same way, then the heads
        (:func:`agents.fast.parameter_order`; the stacked layout the fast path reads in place)."""
        return fast_path.parameter_order(self) if self.mlp_bodies else list(self.parameters())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Also load checkpoints written when the bodies were one stacked module (``bodies.weights.L``
        ``(K, out, in)``, ``bodies.biases.L``): each block becomes its body's Linear layer."""
        for name in ("weights", "biases"):
            for key in [k for k in state_dict if k.startswith(f"{prefix}bodies.{name}.")]:
                layer, stacked = int(key.rsplit(".", 1)[1]), state_dict.pop(key)
                bodies = ["pi_body", "vf_body"][: len(stacked)]
                for k, body_name in enumerate(bodies):
                    state_dict[f"{prefix}{body_name}.{2 * layer}.{name[:-1] if name == 'weights' else 'bias'}"] = (
                        stacked[k]
                    )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        x = self.features_in(obs)
        if self.fused and not torch.is_grad_enabled():  # acting or weighting: no autograd to record
            out = fast_path.forward_no_grad(self, x)
            if out is not None:
                return out[1]
        return self.vf_head(self.vf_body(x)).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Distribution parameters and values (None without a critic) for raw observations."""
        x = self.features_in(obs)
        if self.fused and not torch.is_grad_enabled():  # acting: no autograd to record
            out = fast_path.forward_no_grad(self, x)
            if out is not None:
                return out
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
        log_prob, entropy = self.head.log_prob_entropy(params, actions)
        return log_prob, entropy, values

    # ------------------------------------------------------------- what an update calls

    def forward_train(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, tuple | None]:
        """``(params, values, saved)`` for a loss that :meth:`backward` will differentiate: the
        readable ``self(obs)`` (``saved`` None), or with ``fused`` the network run without autograd,
        its outputs autograd leaves (:func:`agents.fast.forward_leaves`)."""
        if self.fused:
            out = fast_path.forward_leaves(self, self.features_in(obs))
            if out is not None:
                return out
        return (*self(obs), None)

    def backward(self, loss: torch.Tensor, params: torch.Tensor, values: torch.Tensor | None, saved) -> None:
        """Add d loss / d weights to every ``.grad``: ``loss.backward()``, continued through the
        network by hand when the outputs came from the fast forward (``saved`` not None)."""
        if saved is None:
            loss.backward()
        else:
            fast_path.backward(self, loss, params, values, saved)

    # ------------------------------------------------------------- acting in numpy (agents.fast)

    def numpy_acting(self, obs: np.ndarray) -> bool:
        """Whether :meth:`act_numpy` serves this batch (:func:`agents.fast.numpy_acting`)."""
        return fast_path.numpy_acting(self, obs) if self.fused else False

    def act_numpy(
        self, obs: np.ndarray, rng: np.random.Generator, deterministic: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`act` for a numpy batch, in numpy (:func:`agents.fast.act_numpy`)."""
        return fast_path.act_numpy(self, obs, rng, deterministic)

    def value_numpy(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`value` for a numpy batch, in numpy (:func:`agents.fast.value_numpy`)."""
        return fast_path.value_numpy(self, obs)
