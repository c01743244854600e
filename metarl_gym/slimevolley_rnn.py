"""slimevolleygym's built-in opponent: the published weights of its tiny recurrent policy and one step of it.

Shared by the env (:mod:`metarl_gym.envs.slimevolley`, where it drives the left agent) and the agent
(:mod:`metarl_gym.agents.slimevolley_baseline`, the same network as a batched :class:`Policy` usable on either side
and as a starting point for evolution), so that neither imports the other.

The network is ``BaselinePolicy`` of slimevolleygym 0.1.0 (David Ha, MIT licence), itself the agent of
otoro.net/slimevolley (2015): 7 tanh units fed with the agent's first 8 observations (own position and velocity,
the ball's position and velocity, from its own side) and their own 7 previous outputs; the first three outputs press
[forward, backward, jump] when above 0.75. 105 weights and 7 biases (slimevolleygym calls it "120 parameters").
"""

from __future__ import annotations

import torch
from torch import Tensor

NUM_INPUTS = 8
"""Game observations the network reads: the first 8 of the 12 (not the opponent's)."""
NUM_UNITS = 7
"""Outputs: 3 buttons and 4 recurrent units; every output is fed back as an input."""
THRESHOLD = 0.75
"""A button is pressed when its output exceeds this."""

WEIGHT = (
    (7.5719, 4.4285, 2.2716, -0.3598, -7.8189, -2.5422, -3.2034, 0.3935, 1.2202, -0.49, -0.0316, 0.5221, 0.7026, 0.4179, -2.1689),
    (1.646, -13.3639, 1.5151, 1.1175, -5.3561, 5.0442, 0.8451, 0.3987, -2.9501, -3.7811, -5.8994, 6.4167, 2.5014, 7.338, -2.9887),
    (2.4586, 13.4191, 2.7395, -3.9708, 1.6548, -2.7554, -1.5345, -6.4708, 9.2426, -0.7392, 0.4452, 1.8828, -2.6277, -10.851, -3.2353),
    (-4.4653, -3.1153, -1.3707, 7.318, 16.0902, 1.4686, 7.0391, 1.7765, -1.155, 2.6697, -8.8877, 1.1958, -3.2839, -5.4425, 1.6809),
    (7.6812, -2.4732, 1.738, 0.3781, 0.8718, 2.5886, 1.6911, 1.2953, -9.0052, -4.6038, -6.7447, -2.5528, 0.4391, -4.9278, -3.6695),
    (-4.8673, -1.6035, 1.5011, -5.6124, 4.9747, 1.8998, 3.0359, 6.2983, -4.8568, -2.1888, -4.1143, -3.9874, -0.0459, 4.7134, 2.8952),
    (-9.3627, -4.685, 0.3601, -1.3699, 9.7294, 11.5596, 0.1918, 3.0783, 0.0329, -0.1362, -0.1188, -0.7579, 0.3278, -0.977, -0.9377),
)
"""``[7, 15]``: row u holds unit u's weights on [8 observations, 7 previous outputs] (slimevolleygym's layout)."""
BIAS = (2.2935, -2.0353, -1.7786, 5.4567, -3.6368, 3.4996, -0.0685)
"""``[7]`` biases."""

NUM_PARAMS = NUM_UNITS * (NUM_INPUTS + NUM_UNITS) + NUM_UNITS
"""112: the flat genome ``[weight (7 x 15, row-major), bias (7)]``."""


def baseline_params(dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """The published network as one flat genome ``[112]`` (weights row-major, then biases)."""
    weight = torch.tensor(WEIGHT, dtype=torch.float64).reshape(-1)
    return torch.cat([weight, torch.tensor(BIAS, dtype=torch.float64)]).to(dtype=dtype, device=device)


def rnn_step(x, weight, bias, tanh=torch.tanh):
    """One step of the network for B rows, summed input by input in a fixed order.

    ``out = tanh(bias + sum_j weight[:, j] * x[:, j])`` with the sum taken over j = 0..14 in order, one rounding per
    operation, so every batch size, slice and engine gives the same bits (numpy's BLAS ``dot`` in slimevolleygym may
    round the 15-term sum differently, by ~1e-16).

    Args:
        x: ``[B, 15]`` tensor (or numpy array), or a sequence of 15 columns ``[B]``: the 8 observations of the agent's
            own view (already divided by 10), then its 7 previous outputs.
        weight: ``[7, 15]`` (the same network for every row) or ``[B, 7, 15]`` (one network per row).
        bias: ``[7]`` or ``[B, 7]``.
        tanh: the tanh of the array namespace (``numpy.tanh`` for numpy rows).

    Returns:
        the new outputs ``[B, 7]``; the buttons are ``outputs[:, :3] > THRESHOLD``.
    """
    column = (lambda j: x[j][:, None]) if isinstance(x, (list, tuple)) else (lambda j: x[:, j : j + 1])
    acc = bias + weight[..., 0] * column(0)
    for j in range(1, NUM_INPUTS + NUM_UNITS):
        acc = acc + weight[..., j] * column(j)
    return tanh(acc)


__all__ = ["WEIGHT", "BIAS", "NUM_INPUTS", "NUM_UNITS", "NUM_PARAMS", "THRESHOLD", "baseline_params", "rnn_step"]
