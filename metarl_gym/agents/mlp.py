"""Static MLP policy, batched over a population: one independent weight set per individual.

This is the network that the ga-openai-gym seed evolves directly (Such et al. 2017, "Deep Neuroevolution",
arXiv 1712.06567, is the method it follows), and the "plasticity switched off" baseline for the plastic agents.
Every individual's forward pass runs in one ``torch.baddbmm`` per layer.
"""

from __future__ import annotations

import math
from typing import Sequence

import gymnasium as gym
import torch
from torch import Tensor

from .base import ParamLayout, Policy, State, activation_fn, bound_actions, check_output_bounds, check_params, tanh_exp


class MLPPolicy(Policy):
    """A fully connected network with fixed (evolved) weights.

    Genome layout (``self.layout``): ``w1, b1, w2, b2, ...`` where ``w{k}`` has shape ``(in, out)`` so that a
    layer is ``h @ w + b`` (the transpose of ``torch.nn.Linear.weight``) and ``b{k}`` has shape ``(out,)``.
    Without biases the layout is ``w1, w2, ...``.

    Args:
        observation_space: flat Box observation space (``obs_dim`` inputs).
        action_space: Box (``prod(shape)`` outputs) or Discrete (``n`` logits, action = argmax).
        hidden_sizes: widths of the hidden layers.
        activation: hidden-layer activation, a name from ``agents.base.ACTIVATIONS``.
        output: how a Box action is bounded (see :func:`~metarl_gym.agents.base.bound_actions`):
            ``"tanh"`` squashes into [low, high], ``"clip"`` clips the raw output, ``"tanh_clip"`` clips tanh.
        bias: whether layers have biases.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (32, 32),
        activation: str = "tanh",
        output: str = "tanh",
        bias: bool = True,
    ):
        super().__init__(observation_space, action_space)
        if output not in ("tanh", "clip", "tanh_clip"):
            raise ValueError(f"output must be 'tanh', 'clip' or 'tanh_clip', got {output!r}")
        check_output_bounds(action_space, output, type(self).__name__)
        if any(int(h) < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive integers, got {tuple(hidden_sizes)}")
        self.activation = activation_fn(activation)
        self.output = output
        self.bias = bool(bias)
        self.sizes = (self.obs_dim, *(int(h) for h in hidden_sizes), self.action_dim)
        shapes = {}
        for k, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            shapes[f"w{k}"] = (n_in, n_out)
            if self.bias:
                shapes[f"b{k}"] = (n_out,)
        self.layout = ParamLayout(shapes)

    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> dict[str, Tensor]:
        """Each layer's weights as contiguous ``[pop, in, out]`` / ``[pop, out]`` tensors, copied once per evaluation.

        Batched GEMMs on views of ``params`` (a row stride of ``num_params``) run about 3x slower than on
        contiguous tensors, and the same weights are read at every step of the lifetime.
        """
        check_params(params, self.num_params)
        return {name: t.contiguous() for name, t in self.layout.unflatten(params.to(torch.float32)).items()}

    @torch.no_grad()
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """Actions ``[pop, *action_shape]`` (Box) or ``[pop]`` (Discrete) for ``obs [pop, obs_dim]``.

        ``state`` is what :meth:`initial_state` returned (or None: the weights are then read from ``params``).
        """
        parts = state if state is not None else self.layout.unflatten(params.to(torch.float32))
        n_layers = len(self.sizes) - 1
        if torch.compiler.is_compiling():
            # Under torch.compile a broadcast multiply + sum fuses into one vectorised loop per layer, where
            # baddbmm on 1-row matrices would stay an external batched-GEMM call per layer and step.
            h = obs.to(torch.float32)  # [pop, in]
            act = tanh_exp if self.activation is torch.tanh else self.activation  # inductor's own tanh is slow
            for k in range(1, n_layers + 1):
                h = (h.unsqueeze(-1) * parts[f"w{k}"]).sum(dim=1)
                if self.bias:
                    h = h + parts[f"b{k}"]
                if k < n_layers:
                    h = act(h)
            return bound_actions(h, self.action_space, self.output), state
        h = obs.to(torch.float32).unsqueeze(1)  # [pop, 1, in]: a row vector per individual
        for k in range(1, n_layers + 1):
            w = parts[f"w{k}"]
            if self.bias:
                h = torch.baddbmm(parts[f"b{k}"].unsqueeze(1), h, w)
            else:
                h = torch.bmm(h, w)
            if k < n_layers:
                h = self.activation(h)
        return bound_actions(h.squeeze(1), self.action_space, self.output), state

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``[pop, num_params]``: weights N(0, 1/fan_in) (LeCun normal), biases 0."""
        params = torch.randn(pop, self.num_params, generator=generator, device=_gen_device(generator, device))
        parts = self.layout.unflatten(params)
        for name, shape in self.layout.shapes.items():
            if name.startswith("w"):
                parts[name].mul_(1.0 / math.sqrt(shape[0]))
            else:
                parts[name].zero_()
        return params.to(device) if device is not None else params


def _gen_device(generator: torch.Generator | None, device) -> torch.device | None:
    """Device to draw on: the generator's own device when one is given (torch requires it)."""
    return generator.device if generator is not None else device
