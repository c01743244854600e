"""Hebbian plasticity over pixels: a conv feature extractor feeding HebbianPolicy's plastic FC layers.

The Hebbian seed's CarRacing network (Najarro & Risi 2020, arXiv 2007.02686; enajx/HebbianMetaLearning
``CNN_heb``): 84×84 RGB frames -> conv 3→6 k3 + tanh + MaxPool 2 -> conv 6→8 k5 s2 + tanh + MaxPool 2 -> 648
features -> FC 648→128 tanh -> FC 128→64 tanh -> FC 64→3 (no biases anywhere); action
``[tanh(o3[0]), sigmoid(o3[1]), sigmoid(o3[2])]``, and the rule sees the raw ``o3``. Only the three FC layers
are plastic (every step, after ``env.step``; each layer divided by its max |w| after the update for non-Bullet
envs such as CarRacing). The conv weights are never plastic; as in the seed they are either

- ``cnn_weights="evolved"`` (the seed's default run: a second vector of 1,362 conv weights evolved by the ES
  next to the Hebbian coefficients), or
- ``cnn_weights="random"``: drawn afresh each lifetime (PyTorch's default Conv2d init), a fully random network;

and with ``init_weights="coevolve"`` the FC initial weights are part of the genome as well (the seed's
``--init_weights coevolve``, which co-evolves every initial weight, conv included).

Parameter counts (ABCD_lr, 5 coefficients per synapse): 91,328 plastic synapses -> 456,640 coefficients; plus
1,362 conv weights = **458,002** evolved (seed-methods.md §4.6); coevolve adds the 91,328 FC initial weights.

Genome layout: ``[HebbianPolicy genome (coeffs (n_synapses, n_coeffs) [, w{k}_init (out, in)]), conv{k}_w
(out, in, k, k) ...]`` (the conv part only with ``cnn_weights="evolved"``). The seed keeps the same pieces as
two vectors (coefficients; CNN or all initial weights).
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .. import keys as rk
from .base import ParamLayout, Policy, State, action_output_dim, check_params
from .cnn import PRESETS, ConvFeatures, ConvLayer, Frames, as_conv_layers, bound_pixel_actions, check_action_space, resolve_preset
from .hebbian import HebbianPolicy

CNN_WEIGHTS = ("evolved", "random")

_DEFAULTS: dict[str, Any] = dict(
    conv_layers=PRESETS["hebbian_carracing"]["conv_layers"], conv_activation="tanh", hidden_sizes=(128, 64),
    activation="tanh", output="carracing", scale=1 / 255, grayscale=False, resize=(84, 84), channels_last=None,
)


class PixelHebbianPolicy(Policy):
    """Conv features (static, evolved or random) -> plastic Hebbian FC layers (:class:`HebbianPolicy`).

    State (a dict, re-created per evaluation): ``conv`` (the conv weights ``{conv{k}_w: [pop, ...]}``) and
    ``hebb`` (the inner HebbianPolicy's state: plastic weights, rule terms, last activations).

    Args:
        observation_space: an image Box (see :class:`~metarl_gym.agents.cnn.Frames`).
        action_space: Box or Discrete.
        cnn_weights: ``"evolved"`` (in the genome, seed default) or ``"random"`` (drawn every lifetime).
        conv_layers, conv_activation: the conv stack (default: the seed's CNN_heb, no biases).
        hidden_sizes: plastic hidden widths (seed 128, 64).
        rule, init_weights, normalize_weights, plasticity, weight_clip, compile: as :class:`HebbianPolicy`
            (``normalize_weights`` defaults to True, the seed's choice for CarRacing; ``plasticity=False`` is
            the control: the same random network, frozen).
        activation: hidden FC activation (seed tanh).
        output: ``"carracing"`` (seed head, default), ``"clip"``, ``"tanh"`` or ``"tanh_clip"``.
        scale, grayscale, resize, channels_last: frame preprocessing (seed: resize to 84×84, /255).
    """

    plastic = True

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        cnn_weights: str = "evolved",
        conv_layers: Sequence[ConvLayer | dict] | None = None,
        conv_activation: str | None = None,
        hidden_sizes: Sequence[int] | None = None,
        rule: str = "ABCD_lr",
        init_weights: str = "uni",
        activation: str | None = None,
        output: str | None = None,
        normalize_weights: bool = True,
        plasticity: bool = True,
        weight_clip: float | None = 1e4,
        compile: bool | None = False,
        scale: float | None = None,
        grayscale: bool | None = None,
        resize: Sequence[int] | None = None,
        channels_last: bool | None = None,
    ):
        given = dict(conv_layers=conv_layers, conv_activation=conv_activation, hidden_sizes=hidden_sizes, activation=activation,
                     output=output, scale=scale, grayscale=grayscale, resize=resize, channels_last=channels_last)
        cfg = resolve_preset(None, given, _DEFAULTS)
        if cnn_weights not in CNN_WEIGHTS:
            raise ValueError(f"cnn_weights must be one of {CNN_WEIGHTS}, got {cnn_weights!r}")
        if init_weights == "coevolve" and cnn_weights != "evolved":
            raise ValueError("init_weights='coevolve' evolves every initial weight, the conv ones included; set cnn_weights='evolved'")
        check_action_space(action_space, cfg["output"], type(self).__name__)
        self.observation_space, self.action_space = observation_space, action_space
        self.action_dim = action_output_dim(action_space)
        self.output = cfg["output"]
        self.cnn_weights = cnn_weights
        self.frames = Frames(observation_space, channels_last=cfg["channels_last"], scale=cfg["scale"],
                             grayscale=cfg["grayscale"], resize=cfg["resize"])
        self.conv = ConvFeatures(self.frames.shape, as_conv_layers(cfg["conv_layers"]), activation=cfg["conv_activation"], bias=False)
        features = gym.spaces.Box(-np.inf, np.inf, (self.conv.num_features,), np.float32)
        if self.output == "carracing" and isinstance(action_space, gym.spaces.Box):
            # the inner network returns its raw output (clip to ±inf) and the rule sees it raw, as the seed
            inner_space, inner_output = gym.spaces.Box(-np.inf, np.inf, (self.action_dim,), np.float32), "clip"
        else:
            inner_space, inner_output = action_space, ("clip" if self.output == "carracing" else self.output)
        self.hebbian = HebbianPolicy(
            features, inner_space, hidden_sizes=cfg["hidden_sizes"], rule=rule, init_weights=init_weights,
            activation=cfg["activation"], output=inner_output, normalize_weights=normalize_weights, plasticity=plasticity,
            weight_clip=weight_clip, compile=compile,
        )
        self.plasticity = self.plastic = self.hebbian.plastic
        self.n_inner = self.hebbian.num_params
        shapes = dict(self.hebbian.layout.shapes)
        if cnn_weights == "evolved":
            shapes.update(self.conv.shapes)
        self.layout = ParamLayout(shapes)
        self.conv_layout = ParamLayout(self.conv.shapes)

    @property
    def n_synapses(self) -> int:
        """Plastic synapses (the FC layers)."""
        return self.hebbian.n_synapses

    @torch.no_grad()
    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> State:
        """Conv weights (copied from the genome, or drawn from ``keys [pop]``) and the inner Hebbian state, for
        one evaluation."""
        check_params(params, self.num_params)
        keys = rk.random_keys(params.shape[0], params.device) if keys is None else keys.to(params.device)
        hebb = self.hebbian.initial_state(params[:, : self.n_inner], keys)
        dtype = hebb["weights"][0].dtype
        if self.cnn_weights == "evolved":
            parts = self.conv_layout.unflatten(params[:, self.n_inner :].to(dtype))
            conv = {name: t.contiguous() for name, t in parts.items()}
        else:
            conv = self.conv.random_weights(rk.key(keys, rk.POLICY_INIT, -1), dtype)
        return {"conv": conv, "hebb": hebb}

    @torch.no_grad()
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """Frames ``obs [pop, *obs_shape]`` -> actions; stores the FC activations for the next :meth:`learn`."""
        if state is None:
            raise ValueError("PixelHebbianPolicy.act needs the state from initial_state(params, keys)")
        conv = state["conv"]
        w0 = conv["conv1_w"]
        features = self.conv(self.frames(obs.to(w0.device), w0.dtype), conv)
        out, state["hebb"] = self.hebbian.act(params[:, : self.n_inner], features, state["hebb"])
        if self.output == "carracing" and isinstance(self.action_space, gym.spaces.Box):
            out = bound_pixel_actions(out, self.action_space, "carracing").to(torch.float32)
        return out, state

    @torch.no_grad()
    def learn(self, params: Tensor, state: State, rewards: Tensor) -> State:
        """One Hebbian update of the FC layers from the last :meth:`act`."""
        if state is not None:
            state["hebb"] = self.hebbian.learn(params[:, : self.n_inner], state["hebb"], rewards)
        return state

    def state_is_finite(self, state: State) -> Tensor | None:
        """``[pop]`` bool: every plastic FC weight of the individual is finite (the conv weights are not plastic)."""
        return None if state is None else self.hebbian.state_is_finite(state["hebb"])

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``[pop, num_params]`` drawn N(0, 1), the seed's ES initialisation (coefficients and evolved weights)."""
        draw = generator.device if generator is not None else device
        params = torch.randn(pop, self.num_params, generator=generator, device=draw)
        return params.to(device) if device is not None else params
