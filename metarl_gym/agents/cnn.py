"""Convolutional policies over pixels, batched over a population: one independent conv net per individual.

Every individual's conv layer runs in ONE grouped convolution: the population's frames are stacked along the
channel axis (``[1, pop·C, H, W]``) and the weights along the output axis (``[pop·O, C, k, k]``) with
``groups=pop``, so individual ``p``'s output channels see only individual ``p``'s input channels. Pooling is
per channel and needs no grouping; the fully connected head is one batched GEMM per layer (as
:class:`~metarl_gym.agents.mlp.MLPPolicy`). No Python loop over individuals.

Frames: whatever a Gymnasium pixel env (optionally behind ``GrayscaleObservation``, ``ResizeObservation``,
``FrameStackObservation``) returns is accepted: ``[H, W]``, ``[H, W, C]`` (channels last, the env's own layout),
``[C, H, W]`` or ``[S, H, W, C]`` (stacked colour frames, merged to ``S·C`` channels). Frames are transposed to
channels first (the ga-openai-gym seed *reshaped* them, scrambling pixels; see seed-methods.md), converted from
uint8 to float and multiplied by ``scale``. Grayscale and resizing can also be done inside the policy (on the
batch, on the policy's device) when the env builder offers no wrapper option;
:func:`metarl_gym.envs.pixels.pixel_wrappers` gives the Gymnasium wrapper list for Python callers.

Presets (``CNNPolicy(obs_space, act_space, preset=...)``):

- ``"ga_carracing"`` — ga-openai-gym's CarRacing ConvNet (carracing/carracing_conv.py, scripts/nn/conv.py):
  Conv2d(3→12, k3, pad 1) + ReLU, MaxPool(k2, s3) → 12×32×32, FC 12288→64 + ReLU, FC 64→3; steering tanh,
  gas and brake sigmoid. **787,027 parameters** (336 conv + 786,496 FC1 + 195 FC2), the count of the seed's
  saved .npy. The genome is the seed's ``state_dict`` order (conv1.weight, conv1.bias, fc1.weight, fc1.bias,
  fc2.weight, fc2.bias), so a saved seed genome loads unchanged. The seed fed raw 0-255 values; the preset uses
  ``scale=1/255`` (set ``scale=1.0`` for the seed's input range).
- ``"hebbian_carracing"`` — the Hebbian seed's ``CNN_heb`` run with static weights (the "plasticity off"
  network): 84×84 input (resized in the policy), conv 3→6 k3 + tanh + MaxPool 2, conv 6→8 k5 s2 + tanh +
  MaxPool 2 → 648 features, FC 648→128→64→3 with tanh, no biases; steering tanh, gas/brake sigmoid.
  **92,690 parameters** (1,362 conv + 91,328 FC). The plastic version is
  :class:`~metarl_gym.agents.pixel_hebbian.PixelHebbianPolicy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import keys as rk
from .base import ParamLayout, Policy, State, action_output_dim, activation_fn, bound_actions, check_output_bounds, check_params

OUTPUTS = ("tanh", "clip", "tanh_clip", "carracing")
"""Box bounding modes: those of :func:`~metarl_gym.agents.base.bound_actions`, plus ``"carracing"``:
action 0 = tanh(raw 0) (steering), the others sigmoid(raw) (gas, brake), as both CarRacing seeds."""

NON_DECREASING = ("relu", "tanh", "sigmoid", "identity")
"""Activations that commute with max-pooling (pooled first, on fewer elements)."""

LUMA = (0.2125, 0.7154, 0.0721)
"""RGB -> gray weights, those of Gymnasium's GrayscaleObservation (so in-policy and wrapper grayscale agree)."""


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer: Conv2d(out_channels, kernel_size, stride, padding) -> activation -> optional max-pool.

    Args:
        out_channels: output channels.
        kernel_size: square kernel side.
        stride: conv stride.
        padding: zero padding on each side.
        pool: max-pool kernel side (None: no pooling).
        pool_stride: max-pool stride (None: ``pool``, as torch).
    """

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    pool: int | None = None
    pool_stride: int | None = None

    def __post_init__(self):
        for name in ("out_channels", "kernel_size", "stride"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"conv layer {name} must be >= 1, got {getattr(self, name)!r}")
        if self.padding < 0 or (self.pool is not None and self.pool < 1) or (self.pool_stride is not None and self.pool_stride < 1):
            raise ValueError(f"conv layer needs padding >= 0 and pool / pool_stride >= 1, got {self}")

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Spatial size after the conv and the pool."""
        h = (h + 2 * self.padding - self.kernel_size) // self.stride + 1
        w = (w + 2 * self.padding - self.kernel_size) // self.stride + 1
        if self.pool is not None:
            s = self.pool_stride or self.pool
            h, w = (h - self.pool) // s + 1, (w - self.pool) // s + 1
        return h, w


def as_conv_layers(layers: Sequence[ConvLayer | dict]) -> tuple[ConvLayer, ...]:
    """Conv layer specs from :class:`ConvLayer` objects or their kwargs dicts (as written in YAML configs)."""
    out = []
    for k, layer in enumerate(layers):
        if isinstance(layer, ConvLayer):
            out.append(layer)
        elif isinstance(layer, dict):
            try:
                out.append(ConvLayer(**layer))
            except TypeError as err:
                raise ValueError(f"conv_layers[{k}] = {layer!r}: {err}; keys: out_channels, kernel_size, stride, padding, pool, pool_stride") from None
        else:
            raise ValueError(f"conv_layers[{k}] must be a dict or ConvLayer, got {type(layer).__name__}")
    if not out:
        raise ValueError("conv_layers must hold at least one layer")
    return tuple(out)


# ---------------------------------------------------------------------- frames
class Frames:
    """Turns a batch of env observations into float channels-first frames ``[n, C, H, W]``.

    Args:
        observation_space: a Box of shape ``[H, W]``, ``[H, W, C]``, ``[C, H, W]`` or ``[S, H, W, C]``.
        channels_last: layout of a 3-D space; None infers it (last axis of size 1, 3 or 4 -> channels last).
        scale: multiplies the values after the cast to float (1/255 maps uint8 to [0, 1]).
        grayscale: convert RGB frames (groups of 3 channels) to one luma channel each, in the policy.
        resize: ``(H, W)`` to resize to in the policy (area interpolation, as cv2.INTER_AREA for downscaling;
            the Hebbian seed resizes CarRacing to 84×84), or None.
    """

    def __init__(self, observation_space: gym.Space, *, channels_last: bool | None = None, scale: float = 1 / 255,
                 grayscale: bool = False, resize: Sequence[int] | None = None):
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) not in (2, 3, 4):
            raise ValueError(
                f"a CNN policy needs an image Box observation space ([H, W], [H, W, C], [C, H, W] or [S, H, W, C]), "
                f"got {observation_space}; use the 'mlp' policy for flat observations"
            )
        shape = tuple(int(s) for s in observation_space.shape)
        self.obs_shape = shape
        if len(shape) == 2:
            self.layout, (c, h, w) = "hw", (1, *shape)
        elif len(shape) == 4:
            self.layout, (c, h, w) = "shwc", (shape[0] * shape[3], shape[1], shape[2])
        else:
            last = shape[-1] in (1, 3, 4) if channels_last is None else bool(channels_last)
            self.layout = "hwc" if last else "chw"
            c, h, w = (shape[2], shape[0], shape[1]) if last else shape
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        self.scale = float(scale)
        self.grayscale = bool(grayscale)
        if self.grayscale:
            if c % 3 != 0:
                raise ValueError(f"grayscale=True needs RGB frames (channels a multiple of 3), got {c} channels from {shape}")
            c //= 3
        self.resize = None
        if resize is not None:
            if len(resize) != 2 or any(int(s) < 1 for s in resize):
                raise ValueError(f"resize must be [H, W] with positive sizes, got {resize!r}")
            self.resize = (int(resize[0]), int(resize[1]))
            h, w = self.resize
        self.channels, self.height, self.width = c, h, w

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one processed frame."""
        return self.channels, self.height, self.width

    def __call__(self, obs: Tensor, dtype: torch.dtype) -> Tensor:
        """``obs [n, *obs_shape]`` (uint8 or float) -> ``[n, C, H, W]`` of ``dtype``."""
        if tuple(obs.shape[1:]) != self.obs_shape:
            raise ValueError(f"obs must have shape [n, {', '.join(map(str, self.obs_shape))}], got {tuple(obs.shape)}")
        n = obs.shape[0]
        x = obs.to(dtype)
        if self.layout == "hw":
            x = x.unsqueeze(1)
        elif self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "shwc":
            x = x.permute(0, 1, 4, 2, 3).reshape(n, -1, x.shape[2], x.shape[3])
        x = x * self.scale
        if self.grayscale:
            luma = torch.tensor(LUMA, dtype=dtype, device=x.device).view(1, 1, 3, 1, 1)
            x = (x.reshape(n, -1, 3, x.shape[2], x.shape[3]) * luma).sum(dim=2)
        if self.resize is not None and tuple(x.shape[2:]) != self.resize:
            x = F.interpolate(x, size=self.resize, mode="area")
        return x.contiguous()


# ---------------------------------------------------------------------- conv feature extractor
class ConvFeatures:
    """A stack of conv layers with per-individual weights; ``[n, C, H, W]`` -> flat features ``[n, num_features]``.

    Weights in ``torch.nn.Conv2d`` layout: ``conv{k}_w (out, in, k, k)`` and, with bias, ``conv{k}_b (out,)``.

    Args:
        in_shape: ``(C, H, W)`` of the input frames.
        layers: the conv layers.
        activation: after every conv, before its pool (a name from ``agents.base.ACTIVATIONS``).
        bias: whether the convs have biases.
    """

    def __init__(self, in_shape: tuple[int, int, int], layers: Sequence[ConvLayer], *, activation: str = "relu", bias: bool = True):
        self.layers = tuple(layers)
        self.activation = activation_fn(activation)
        self.pool_first = activation in NON_DECREASING
        self.bias = bool(bias)
        c, h, w = in_shape
        self.shapes: dict[str, tuple[int, ...]] = {}
        for k, layer in enumerate(self.layers, start=1):
            self.shapes[f"conv{k}_w"] = (layer.out_channels, c, layer.kernel_size, layer.kernel_size)
            if self.bias:
                self.shapes[f"conv{k}_b"] = (layer.out_channels,)
            h, w = layer.out_size(h, w)
            if h < 1 or w < 1:
                raise ValueError(f"conv layer {k} ({layer}) leaves no pixels for {in_shape} input frames; use smaller kernels / strides or larger frames")
            c = layer.out_channels
        self.out_shape = (c, h, w)
        self.num_features = c * h * w

    def __call__(self, x: Tensor, weights: dict[str, Tensor]) -> Tensor:
        """``x [n, C, H, W]`` with ``weights {name: [n, *shape]}`` -> ``[n, num_features]`` (channel-major flatten).

        The activations stay in the grouped form ``[1, n·C, H, W]`` from the first conv to the flatten:
        activation and pooling act per channel, so they need no regrouping (and pooling the grouped,
        channels-last tensor is ~30x faster on CPU than pooling a regrouped ``[n, C, H, W]`` view of it).
        """
        n = x.shape[0]
        y = x.reshape(1, n * x.shape[1], x.shape[2], x.shape[3])  # group p = individual p's channels
        if y.device.type == "cpu":  # oneDNN's grouped conv and pooling are much faster channels-last
            y = y.contiguous(memory_format=torch.channels_last)
        for k, layer in enumerate(self.layers, start=1):
            w = weights[f"conv{k}_w"]  # [n, O, C, k, k]
            o = w.shape[1]
            b = weights[f"conv{k}_b"].reshape(n * o) if self.bias else None
            # one grouped conv for the whole population
            y = F.conv2d(y, w.reshape(n * o, *w.shape[2:]), b, stride=layer.stride, padding=layer.padding, groups=n)
            # max-pool then activate: equal to activate-then-pool for a non-decreasing activation, on up to
            # pool² times fewer elements
            if not self.pool_first:
                y = self.activation(y)
            if layer.pool is not None:
                y = F.max_pool2d(y, layer.pool, layer.pool_stride or layer.pool)
            if self.pool_first:
                y = self.activation(y)
        return y.reshape(n, -1)  # logical order [n, O, H, W]: each individual's features channel-major

    def fan_in(self, name: str) -> int:
        """Inputs per output unit of the layer that ``name`` belongs to."""
        shape = self.shapes[name.replace("_b", "_w")]
        return shape[1] * shape[2] * shape[3]

    def random_weights(self, keys: Tensor, dtype) -> dict[str, Tensor]:
        """PyTorch's default Conv2d init, per individual: U(±1/sqrt(fan_in)) for weights and biases, row i
        drawn from ``keys[i]`` alone (``keys [n]`` int64, :mod:`metarl_gym.keys`; one stream per tensor)."""
        out = {}
        for k, (name, shape) in enumerate(self.shapes.items()):
            bound = 1.0 / math.sqrt(self.fan_in(name))
            t = (rk.uniform(rk.key(keys, k), shape) * 2 - 1) * bound
            out[name] = t.to(dtype=dtype)
        return out


def bound_pixel_actions(raw: Tensor, action_space: gym.Space, output: str) -> Tensor:
    """``bound_actions`` plus the CarRacing head ``[tanh(raw0), sigmoid(raw1), sigmoid(raw2), ...]``.

    As :func:`~metarl_gym.agents.base.bound_actions`, a row whose raw outputs are not all finite is marked
    (all NaN), never repaired: ``rollout`` scores it ``-inf``.
    """
    if output != "carracing" or isinstance(action_space, gym.spaces.Discrete):
        return bound_actions(raw, action_space, "tanh" if output == "carracing" else output)
    bad = ~torch.isfinite(raw).all(dim=1, keepdim=True)  # tanh / sigmoid would map ±inf to valid actions
    out = torch.cat([torch.tanh(raw[:, :1]), torch.sigmoid(raw[:, 1:])], dim=1)
    return torch.where(bad, torch.nan, out).reshape(raw.shape[0], *action_space.shape)


def check_action_space(action_space: gym.Space, output: str, owner: str) -> None:
    """Raise a ValueError unless ``action_space`` and ``output`` fit together."""
    if not isinstance(action_space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise ValueError(f"{owner} supports Box and Discrete action spaces, got {action_space}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    check_output_bounds(action_space, output, owner)
    if output == "carracing" and isinstance(action_space, gym.spaces.Box):
        low = action_space.low.reshape(-1)
        if action_space.shape != (3,) or not (low[0] == -1 and (low[1:] == 0).all() and (action_space.high == 1).all()):
            raise ValueError(f"output='carracing' needs CarRacing's action space Box([-1, 0, 0], [1, 1, 1]), got {action_space}; use 'tanh' or 'clip'")


# ---------------------------------------------------------------------- the policy
PRESETS: dict[str, dict[str, Any]] = {
    "ga_carracing": dict(
        conv_layers=[dict(out_channels=12, kernel_size=3, padding=1, pool=2, pool_stride=3)],
        conv_activation="relu", hidden_sizes=(64,), activation="relu", bias=True, output="carracing",
    ),
    "hebbian_carracing": dict(
        conv_layers=[dict(out_channels=6, kernel_size=3, pool=2), dict(out_channels=8, kernel_size=5, stride=2, pool=2)],
        conv_activation="tanh", hidden_sizes=(128, 64), activation="tanh", bias=False, output="carracing", resize=(84, 84),
    ),
}
"""Seed networks (see the module docstring): name -> CNNPolicy keyword defaults."""

_DEFAULTS: dict[str, Any] = dict(
    conv_layers=PRESETS["ga_carracing"]["conv_layers"], conv_activation="relu", hidden_sizes=(64,), activation="relu",
    bias=True, output="tanh", scale=1 / 255, grayscale=False, resize=None, channels_last=None,
)


def resolve_preset(preset: str | None, overrides: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults``, then the preset's values, then the explicitly given (non-None) keywords."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)} or none")
    out = dict(defaults)
    if preset is not None:
        out.update({k: v for k, v in PRESETS[preset].items() if k in defaults})
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


class CNNPolicy(Policy):
    """Conv feature extractor + fully connected head, with fixed (evolved) weights per individual.

    Network: ``frames -> [conv -> conv_activation -> max-pool] × L -> flatten -> [FC -> activation] × H ->
    FC -> bounded action``. Genome layout (``self.layout``), ``torch.nn`` layouts in ``state_dict`` order:
    ``conv{k}_w (out, in, k, k)``, ``conv{k}_b (out,)``, ..., ``fc{k}_w (out, in)``, ``fc{k}_b (out,)``, ...
    (biases only with ``bias=True``).

    Precision: float32; a float64 genome computes in float64 (for exact reference checks). Actions are float32
    (Box) or int64 (Discrete).

    Args:
        observation_space: an image Box (see :class:`Frames`).
        action_space: Box or Discrete.
        preset: ``"ga_carracing"`` or ``"hebbian_carracing"`` (module docstring) or None; explicit keywords
            override the preset's.
        conv_layers: list of :class:`ConvLayer` or their kwargs dicts.
        conv_activation: after each conv.
        hidden_sizes: widths of the hidden FC layers.
        activation: hidden FC activation.
        bias: biases in every layer.
        output: one of :data:`OUTPUTS`.
        scale, grayscale, resize, channels_last: frame preprocessing (:class:`Frames`).
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        preset: str | None = None,
        conv_layers: Sequence[ConvLayer | dict] | None = None,
        conv_activation: str | None = None,
        hidden_sizes: Sequence[int] | None = None,
        activation: str | None = None,
        bias: bool | None = None,
        output: str | None = None,
        scale: float | None = None,
        grayscale: bool | None = None,
        resize: Sequence[int] | None = None,
        channels_last: bool | None = None,
    ):
        given = dict(conv_layers=conv_layers, conv_activation=conv_activation, hidden_sizes=hidden_sizes, activation=activation,
                     bias=bias, output=output, scale=scale, grayscale=grayscale, resize=resize, channels_last=channels_last)
        cfg = resolve_preset(preset, given, _DEFAULTS)
        self.preset = preset
        check_action_space(action_space, cfg["output"], type(self).__name__)
        self.observation_space, self.action_space = observation_space, action_space
        self.action_dim = action_output_dim(action_space)
        self.output = cfg["output"]
        self.frames = Frames(observation_space, channels_last=cfg["channels_last"], scale=cfg["scale"],
                             grayscale=cfg["grayscale"], resize=cfg["resize"])
        self.bias = bool(cfg["bias"])
        self.conv = ConvFeatures(self.frames.shape, as_conv_layers(cfg["conv_layers"]), activation=cfg["conv_activation"], bias=self.bias)
        if any(int(h) < 1 for h in cfg["hidden_sizes"]):
            raise ValueError(f"hidden_sizes must be positive integers, got {tuple(cfg['hidden_sizes'])}")
        self.activation = activation_fn(cfg["activation"])
        self.fc_sizes = (self.conv.num_features, *(int(h) for h in cfg["hidden_sizes"]), self.action_dim)
        shapes = dict(self.conv.shapes)
        for k, (n_in, n_out) in enumerate(zip(self.fc_sizes[:-1], self.fc_sizes[1:]), start=1):
            shapes[f"fc{k}_w"] = (n_out, n_in)
            if self.bias:
                shapes[f"fc{k}_b"] = (n_out,)
        self.layout = ParamLayout(shapes)

    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> dict[str, Tensor]:
        """The weights as contiguous per-layer tensors, copied once per evaluation (read at every step).

        FC weights stay ``[pop, out, in]``: the batched GEMM reads them through a transposed view, one
        contiguous dot product per output (measured faster on CPU than an ``[in, out]`` copy).
        """
        check_params(params, self.num_params)
        parts = self.layout.unflatten(params.to(_compute_dtype(params)))
        return {name: t.contiguous() for name, t in parts.items()}

    @torch.no_grad()
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """Actions ``[pop, *action_shape]`` (Box) or ``[pop]`` (Discrete) for frames ``obs [pop, *obs_shape]``.

        ``state`` is what :meth:`initial_state` returned (None: the weights are read from ``params``).
        """
        parts = state if state is not None else self.initial_state(params)
        dtype = parts["conv1_w"].dtype
        h = self.conv(self.frames(obs.to(parts["conv1_w"].device), dtype), parts).unsqueeze(1)  # [pop, 1, F]
        n_fc = len(self.fc_sizes) - 1
        for k in range(1, n_fc + 1):
            w = parts[f"fc{k}_w"].transpose(1, 2)  # [pop, in, out] view of [pop, out, in]
            h = torch.baddbmm(parts[f"fc{k}_b"].unsqueeze(1), h, w) if self.bias else torch.bmm(h, w)
            if k < n_fc:
                h = self.activation(h)
        actions = bound_pixel_actions(h.squeeze(1), self.action_space, self.output)
        return (actions if actions.dtype == torch.int64 else actions.to(torch.float32)), state

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``[pop, num_params]``: weights N(0, 1/fan_in) (LeCun normal), biases 0."""
        draw = generator.device if generator is not None else device
        params = torch.randn(pop, self.num_params, generator=generator, device=draw)
        parts = self.layout.unflatten(params)
        for name, shape in self.layout.shapes.items():
            if name.endswith("_b"):
                parts[name].zero_()
            else:
                parts[name].mul_(1.0 / math.sqrt(math.prod(shape[1:])))
        return params.to(device) if device is not None else params


def _compute_dtype(params: Tensor) -> torch.dtype:
    """float32, or float64 when the genome is float64 (for exact reference checks)."""
    return torch.float64 if params.dtype == torch.float64 else torch.float32
