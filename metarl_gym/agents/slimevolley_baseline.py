"""slimevolleygym's built-in opponent (a 112-parameter recurrent network) as a batched policy.

The same network that drives the left side of ``MetaRL/SlimeVolley-v0`` by default (:mod:`metarl_gym.slimevolley_rnn`
holds the published weights and the one step both use), here with one weight set per individual, so it can

* play the right side against the built-in opponent (baseline vs baseline: the game's reference level, score ~0);
* play both sides of ``opponent="self"`` (observations ``[pop, 24]``, actions ``[pop, 6]``: each side reads its
  own 12 observations and keeps its own recurrent state);
* start evolution: :func:`~metarl_gym.slimevolley_rnn.baseline_params` is the published genome.

Reference: D. Ha, slimevolleygym (2020), ``BaselinePolicy``; the network of otoro.net/slimevolley (2015).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import Tensor

from ..slimevolley_rnn import NUM_INPUTS, NUM_UNITS, THRESHOLD, baseline_params, rnn_step
from .base import ParamLayout, Policy, State, check_params

_OBS = 12


class SlimeVolleyBaselinePolicy(Policy):
    """slimevolleygym's ``BaselinePolicy``, batched: ``out = tanh(W [obs[:8], out_prev] + b)``, buttons ``out[:3] > 0.75``.

    Genome layout: ``weight`` ``(7, 15)`` (row u: unit u's weights on the 8 observations, then on the 7 previous
    outputs), ``bias`` ``(7,)``; 112 parameters. The recurrent outputs start at zero each lifetime.

    Args:
        observation_space: ``Box((12,))`` (one agent's own view) or ``Box((24,))`` (self-play: two views).
        action_space: ``MultiBinary(3)`` or ``MultiBinary(6)`` to match (buttons as float 0 / 1).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space):
        super().__init__(observation_space, action_space)
        if self.obs_dim not in (_OBS, 2 * _OBS) or not isinstance(action_space, gym.spaces.MultiBinary) or (
            self.action_dim != 3 * self.obs_dim // _OBS
        ):
            raise ValueError(
                f"{type(self).__name__} plays MetaRL/SlimeVolley-v0: Box((12,)) observations with MultiBinary(3) "
                f"actions, or Box((24,)) with MultiBinary(6) (opponent='self'); got {observation_space} and {action_space}"
            )
        self.sides = self.obs_dim // _OBS
        self.layout = ParamLayout({"weight": (NUM_UNITS, NUM_INPUTS + NUM_UNITS), "bias": (NUM_UNITS,)})

    def published_params(self, pop: int = 1, *, device=None) -> Tensor:
        """``[pop, 112]`` copies of slimevolleygym's published weights (a starting point for evolution)."""
        return baseline_params(torch.float32, device).expand(pop, -1).clone()

    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> Tensor:
        """The previous outputs ``[pop, sides, 7]``, zero (nothing is random)."""
        check_params(params, self.num_params)
        return torch.zeros(params.shape[0], self.sides, NUM_UNITS, dtype=torch.float32, device=params.device)

    @torch.no_grad()
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, Tensor]:
        """Buttons ``[pop, 3 * sides]`` float 0 / 1 for ``obs [pop, 12 * sides]``; rows with non-finite outputs NaN."""
        parts = self.layout.unflatten(params.to(torch.float32))
        weight, bias = parts["weight"], parts["bias"]
        if state is None:
            state = self.initial_state(params)
        obs = obs.to(torch.float32)
        outputs, buttons = [], []
        for side in range(self.sides):
            view = obs[:, side * _OBS : side * _OBS + NUM_INPUTS]
            x = list(view.unbind(dim=1)) + list(state[:, side].unbind(dim=1))
            out = rnn_step(x, weight, bias)
            outputs.append(out)
            pressed = out[:, :3]
            buttons.append((pressed > THRESHOLD).to(torch.float32) + (pressed - pressed))  # NaN marks a bad row
        return torch.cat(buttons, dim=1), torch.stack(outputs, dim=1)

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``[pop, 112]``: the published weights plus N(0, 1) noise on every parameter (row 0 left exact)."""
        noise = torch.randn(pop, self.num_params, generator=generator,
                            device=generator.device if generator is not None else device)
        noise[0] = 0.0
        return (self.published_params(pop, device=noise.device) + noise).to(device or noise.device)


__all__ = ["SlimeVolleyBaselinePolicy"]
