"""The MetaRL learned learning rule: a stochastic actor trained online by three tiny evolved recurrent nets.

Re-implementation of ASFaust/MetaRL (networks/ActorNetwork.py, ActorNetworkLayer.py, LearningRule.py,
LearningRuleNetwork.py), batched over the population. The genome is the learning rule (520 floats at the
defaults); the actor's weights are random at the start of every evaluation and learned during the lifetime.

Actor (per individual, layers ``[obs_dim, *hidden_sizes, action_dim]``): ``s = x @ W + b``,
``z ~ N(s, σ)`` (per-neuron σ), ``y = tanh(z)``; node info ``[s, z, y, b, σ]``.

After every env step, :meth:`LearnedRulePolicy.learn` runs the rule backwards from the output layer:

1. ``signal = reward_net([r, info_L])`` per output neuron.
2. For each layer from the last to the first: ``node_net([info, signal])`` gives a signal for the synapses,
   Δb and Δσ per neuron (b, σ change by at most ``learning_rate`` and are clamped); then for every synapse
   ``i -> j``, ``connection_net([post info_j, pre info_i, node signal_j, w_ij, flag])`` gives a signal for the
   pre-neuron and Δw (w changes by at most ``learning_rate``, clamped to ±weight_limit). The mean over ``j`` of
   the synapse signals is the signal of the layer below. First layer: pre info = zeros except slot 2 = the
   observation value, flag = 1.

Each rule net is ``h' = tanh([h, x] @ W_s + b_s)``, ``out = tanh([h', x] @ W_o + b_o)`` with a recurrent state
``h`` per output neuron, per neuron, or per synapse that persists through the lifetime.

Memory: the connection net's input is never built per synapse. Its matrix products split into a per-synapse
part (the recurrent state and the weight), a per-post-neuron part and a per-pre-neuron part, added by
broadcasting, so one layer's per-synapse work holds only its old and new ``[pop, state_dim, n_synapses]`` states
and its ``[pop, signal_dim + 1, n_synapses]`` outputs.
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .. import keys as rk
from .base import ParamLayout, Policy, State, bound_actions, check_params

NODE_INFO_DIM = 5
"""Per-neuron info ``[s (pre-noise sum), z (sample), y (output), b, σ]``."""


class LearnedRulePolicy(Policy):
    """The MetaRL actor plus its learned learning rule; the genome is the rule's three nets.

    Genome layout (the order of the seed's ``LearningRule.get_random_params``): for ``node_network``,
    ``connection_network``, ``reward_network`` in turn, ``{net}.w_state (in+S, S)``, ``{net}.b_state (S,)``,
    ``{net}.w_output (in+S, out)``, ``{net}.b_output (out,)``, rows ordered ``[state, input]`` as in the seed.
    Inputs / outputs: node ``[info(5), signal(sd)] -> [signal(sd), Δb, Δσ]``; connection
    ``[post info(5), pre info(5), signal(sd), w, flag] -> [signal(sd), Δw]``; reward ``[r, info(5)] -> signal(sd)``.
    With S = 8 and sd = 1 that is 165 + 220 + 135 = 520 floats, whatever the env.

    State (a dict): ``weights`` (per layer ``[pop, in, out]``), ``biases``, ``sigmas`` (``[pop, out]``), the
    forward caches ``x``, ``s``, ``z``, ``y``, the recurrent states ``reward_h [pop, out_L, S]``, ``node_h``
    (per layer ``[pop, out, S]``), ``conn_h`` (per layer ``[pop, S, in·out]``, synapse ``i·out + j``), the
    rule's matrices split once per evaluation (``rule``), the lifetime ``keys [pop]`` and the ``step`` counter.

    Noise: every :meth:`act` draws ``ε [pop, out]`` per layer keyed by (row key, step, layer)
    (:mod:`metarl_gym.keys`), so row i's noise does not depend on the other rows; ``z = s + σ·ε``.

    Precision: float32; a float64 genome runs the whole lifetime in float64 (for exact reference checks).
    Actions are float32 (Box) or int64 (Discrete).

    Args:
        observation_space: flat Box observation space.
        action_space: Box (``actions = clip(action_scale·y, low, high)``) or Discrete (argmax of ``y``).
        hidden_sizes: hidden widths; the actor is ``[obs_dim, *hidden_sizes, action_dim]`` (seed: 8, 8).
        action_scale: the seed's ``actor_force``; ``None`` maps y ∈ (-1, 1) affinely onto [low, high].
        weight_limit: |w| and |b| bound (4.0).
        weight_init: initial W, b ~ N(0, (weight_init·weight_limit)²) (0.1, so std 0.4).
        sigma_limit: σ ∈ [0, sigma_limit] (1.0).
        sigma_init: initial σ (0.0).
        learning_rate: scale of every Δw, Δb, Δσ (0.01).
        state_dim: recurrent state size S of the rule nets (8).
        signal_dim: size of the learning signals (1).
        init_std: std of :meth:`random_params` (0.1).
    """

    plastic = True

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (8, 8),
        action_scale: float | None = 1.0,
        weight_limit: float = 4.0,
        weight_init: float = 0.1,
        sigma_limit: float = 1.0,
        sigma_init: float = 0.0,
        learning_rate: float = 0.01,
        state_dim: int = 8,
        signal_dim: int = 1,
        init_std: float = 0.1,
    ):
        super().__init__(observation_space, action_space)
        if any(int(h) < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive integers, got {tuple(hidden_sizes)}")
        if int(state_dim) < 1 or int(signal_dim) < 1:
            raise ValueError(f"state_dim and signal_dim must be >= 1, got {state_dim}, {signal_dim}")
        if not (weight_limit > 0 and sigma_limit >= 0 and 0 <= sigma_init <= sigma_limit):
            raise ValueError("need weight_limit > 0 and 0 <= sigma_init <= sigma_limit")
        if action_scale is None and isinstance(action_space, gym.spaces.Box) and not (
            np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()
        ):
            raise ValueError("action_scale=None maps onto [low, high], which needs a bounded Box; pass action_scale")
        self.sizes = (self.obs_dim, *(int(h) for h in hidden_sizes), self.action_dim)
        self.layer_shapes = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.action_scale = None if action_scale is None else float(action_scale)
        self.weight_limit, self.weight_init = float(weight_limit), float(weight_init)
        self.sigma_limit, self.sigma_init = float(sigma_limit), float(sigma_init)
        self.learning_rate, self.init_std = float(learning_rate), float(init_std)
        self.state_dim, self.signal_dim = S, sd = int(state_dim), int(signal_dim)
        self.nets = {  # name -> (input dim, output dim), in the seed's order
            "node_network": (NODE_INFO_DIM + sd, sd + 2),
            "connection_network": (2 * NODE_INFO_DIM + sd + 2, sd + 1),
            "reward_network": (NODE_INFO_DIM + 1, sd),
        }
        shapes = {}
        for net, (n_in, n_out) in self.nets.items():
            shapes[f"{net}.w_state"] = (n_in + S, S)
            shapes[f"{net}.b_state"] = (S,)
            shapes[f"{net}.w_output"] = (n_in + S, n_out)
            shapes[f"{net}.b_output"] = (n_out,)
        self.layout = ParamLayout(shapes)

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``[pop, num_params]`` ~ N(0, init_std²), the seed's ``get_random_params``."""
        draw_device = generator.device if generator is not None else device
        params = torch.randn(pop, self.num_params, generator=generator, device=draw_device) * self.init_std
        return params.to(device) if device is not None else params

    # ------------------------------------------------------------------ lifetime
    @torch.no_grad()
    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> State:
        """A fresh random actor, zero recurrent states and the rule's matrices, for one evaluation.

        Args:
            params: ``[pop, num_params]``.
            keys: ``[pop]`` int64 lifetime keys: row i's initial weights and, later, its noise come from
                ``keys[i]`` alone (:mod:`metarl_gym.keys`); None: fresh entropy.
        """
        check_params(params, self.num_params)
        pop, device, S = params.shape[0], params.device, self.state_dim
        keys = rk.random_keys(pop, device) if keys is None else keys.to(device)
        dtype = torch.float64 if params.dtype == torch.float64 else torch.float32  # float64 for exact checks
        std = self.weight_init * self.weight_limit
        weights, biases, sigmas = [], [], []
        for layer, (n_in, n_out) in enumerate(self.layer_shapes):
            draw = rk.normal(rk.key(keys, rk.POLICY_INIT, layer), n_in * n_out + n_out)
            weights.append((draw[:, : n_in * n_out].reshape(pop, n_in, n_out) * std).to(dtype))
            biases.append((draw[:, n_in * n_out :] * std).to(dtype))
            sigmas.append(torch.full((pop, n_out), self.sigma_init, device=device, dtype=dtype))
        zeros = lambda *shape: torch.zeros(pop, *shape, device=device, dtype=dtype)  # noqa: E731
        return {
            "weights": weights,
            "biases": biases,
            "sigmas": sigmas,
            "x": None, "s": None, "z": None, "y": None,
            "reward_h": zeros(self.sizes[-1], S),
            "node_h": [zeros(n_out, S) for _, n_out in self.layer_shapes],
            "conn_h": [zeros(S, n_in * n_out) for n_in, n_out in self.layer_shapes],
            "rule": self._split_rule(params.to(dtype)),
            "keys": keys,
            "step": torch.zeros((), dtype=torch.int64, device=device),
        }

    @torch.no_grad()
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """Stochastic forward pass; caches s, z, y per layer for :meth:`learn`.

        Args:
            params: ``[pop, num_params]`` (the rule is already in the state).
            obs: ``[pop, obs_dim]``.
            state: from :meth:`initial_state`.

        Returns:
            ``(actions, state)``.
        """
        if state is None:
            raise ValueError("LearnedRulePolicy.act needs the state from initial_state(params, keys)")
        pop = state["weights"][0].shape[0]
        if obs.shape != (pop, self.obs_dim):
            raise ValueError(f"obs must have shape [pop, {self.obs_dim}] = {(pop, self.obs_dim)}, got {tuple(obs.shape)}")
        device, dtype = state["weights"][0].device, state["weights"][0].dtype
        x = torch.nan_to_num(obs.to(device=device, dtype=dtype))
        h, ss, zs, ys = x, [], [], []
        step_keys = rk.key(state["keys"], rk.POLICY_NOISE, state["step"])
        for layer, (w, b, sigma) in enumerate(zip(state["weights"], state["biases"], state["sigmas"])):
            s = torch.baddbmm(b.unsqueeze(1), h.unsqueeze(1), w).squeeze(1)
            z = torch.addcmul(s, sigma, rk.normal(rk.key(step_keys, layer), s.shape[1]).to(dtype))
            h = torch.tanh(z)
            ss.append(s)
            zs.append(z)
            ys.append(h)
        state.update(x=x, s=ss, z=zs, y=ys, step=state["step"] + 1)
        if isinstance(self.action_space, gym.spaces.Discrete):
            return bound_actions(h, self.action_space), state
        if self.action_scale is None:  # y = tanh(z) mapped affinely onto [low, high]
            return bound_actions(z, self.action_space, "tanh").to(torch.float32), state
        return bound_actions(h * self.action_scale, self.action_space, "clip").to(torch.float32), state

    @torch.no_grad()
    def learn(self, params: Tensor, state: State, rewards: Tensor) -> State:
        """One pass of the learned rule from the output layer down (MetaRL ``ActorNetwork.train``).

        Args:
            params: ``[pop, num_params]`` (unused: the rule is in the state).
            state: from :meth:`act`.
            rewards: ``[pop]``, the reward of the step just taken.
        """
        if state is None or state["s"] is None:
            return state
        rule, lr, sd = state["rule"], self.learning_rate, self.signal_dim
        n_layers = len(self.layer_shapes)
        pop = state["weights"][0].shape[0]
        r = torch.nan_to_num(rewards.to(device=state["x"].device, dtype=state["x"].dtype)).reshape(pop, 1, 1)

        info = lambda k: self._node_info(state, k)  # noqa: E731  (layer k's [s, z, y, b, σ] as they are now)
        top = info(n_layers - 1)
        reward_in = torch.cat([r.expand(-1, top.shape[1], 1), top], 2)  # [pop, n_out, 1 + 5]
        signal, state["reward_h"] = _cell(rule["reward_network"], reward_in, state["reward_h"])
        for k in range(n_layers - 1, -1, -1):  # output layer first; layer k - 1 is not updated yet
            node_out, state["node_h"][k] = _cell(rule["node_network"], torch.cat([info(k), signal], 2), state["node_h"][k])
            b = (state["biases"][k] + lr * node_out[..., sd]).clamp_(-self.weight_limit, self.weight_limit)
            sigma = (state["sigmas"][k] + lr * node_out[..., sd + 1]).clamp_(0.0, self.sigma_limit)
            state["biases"][k], state["sigmas"][k] = b, sigma
            post_in = torch.cat([info(k), node_out[..., :sd]], 2)  # post info with the new b, σ
            n_in = self.layer_shapes[k][0]
            if k > 0:
                pre_in = torch.cat([info(k - 1), r.new_zeros(pop, n_in, 1)], 2)
            else:  # the observation as the pre "output", flag 1
                pre_in = r.new_zeros(pop, n_in, NODE_INFO_DIM + 1)
                pre_in[..., 2] = state["x"]
                pre_in[..., NODE_INFO_DIM] = 1.0
            conn = rule["connection_network"]
            out, state["conn_h"][k] = _synapse_cell(conn, state["conn_h"][k], state["weights"][k], post_in, pre_in)
            state["weights"][k].add_(out[:, sd], alpha=lr).clamp_(-self.weight_limit, self.weight_limit)
            signal = out[:, :sd].mean(dim=3).transpose(1, 2)  # [pop, n_in, sd]: mean over post neurons
            del out
        state.update(x=None, s=None, z=None, y=None)  # each forward pass drives one update
        return state

    def state_is_finite(self, state: State) -> Tensor | None:
        """``[pop]`` bool: the actor's weights, biases and sigmas of the individual are all finite."""
        if state is None:
            return None
        ok = None
        for t in (*state["weights"], *state["biases"], *state["sigmas"]):
            row = torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)
            ok = row if ok is None else ok & row
        return ok

    # ------------------------------------------------------------------ helpers
    def _node_info(self, state: State, k: int) -> Tensor:
        """``[pop, n_out, 5]``: ``[s, z, y, b, σ]`` of layer k."""
        return torch.stack([state["s"][k], state["z"][k], state["y"][k], state["biases"][k], state["sigmas"][k]], dim=2)

    def _split_rule(self, params: Tensor) -> dict[str, dict[str, Tensor]]:
        """The rule nets per individual: node and reward nets as views, the connection net split by input kind."""
        parts, S, sd = self.layout.unflatten(params), self.state_dim, self.signal_dim
        rule = {}
        for net in ("node_network", "reward_network"):  # views into params: no copy needed for these
            rule[net] = {k: parts[f"{net}.{k}"] for k in ("w_state", "b_state", "w_output", "b_output")}
        # connection net input rows (after the S state rows): post 0..4, pre 5..9, signal 10..10+sd-1, w, flag
        post_rows = list(range(S, S + NODE_INFO_DIM)) + list(range(S + 2 * NODE_INFO_DIM, S + 2 * NODE_INFO_DIM + sd))
        pre_rows = list(range(S + NODE_INFO_DIM, S + 2 * NODE_INFO_DIM)) + [S + 2 * NODE_INFO_DIM + sd + 1]
        w_row = S + 2 * NODE_INFO_DIM + sd
        conn = {}
        for part, mat, bias in (("s", "w_state", "b_state"), ("o", "w_output", "b_output")):
            m = parts[f"connection_network.{mat}"]
            conn[part + "h"] = m[:, :S].transpose(1, 2).contiguous()  # [pop, n, S]: h' = M @ h
            conn[part + "w"] = m[:, w_row].unsqueeze(2).contiguous()  # [pop, n, 1]
            conn[part + "post"] = m[:, post_rows].contiguous()  # [pop, 5 + sd, n]
            conn[part + "pre"] = m[:, pre_rows].contiguous()  # [pop, 6, n]
            conn[part + "b"] = parts[f"connection_network.{bias}"].unsqueeze(1).contiguous()  # [pop, 1, n]
        rule["connection_network"] = conn
        return rule


def _cell(net: dict[str, Tensor], x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """A rule net applied to every row of ``x [pop, n, in]`` with states ``h [pop, n, S]`` -> ``(out, h')``.

    ``[h, x] @ W`` is computed as ``h @ W[:S] + x @ W[S:]`` (no concatenated copy).
    """
    S = h.shape[2]
    ws, wo = net["w_state"], net["w_output"]
    h_new = torch.baddbmm(net["b_state"].unsqueeze(1), h, ws[:, :S]).baddbmm_(x, ws[:, S:]).tanh_()
    out = torch.baddbmm(net["b_output"].unsqueeze(1), h_new, wo[:, :S]).baddbmm_(x, wo[:, S:]).tanh_()
    return out, h_new


def _synapse_cell(net: dict[str, Tensor], h: Tensor, w: Tensor, post_in: Tensor, pre_in: Tensor) -> tuple[Tensor, Tensor]:
    """The connection net on every synapse of a layer, without building its per-synapse input.

    Per synapse ``i -> j``, ``[h, post_j, pre_i, w_ij] @ W`` splits into ``M @ h`` (per synapse), a per-post-neuron
    term ``U_j``, a per-pre-neuron term ``V_i`` and ``w_ij · m_w``. The broadcast sum ``U + V + w·m_w`` is written
    once into the result buffer, then ``M @ h`` is accumulated into it in place.

    Args:
        net: the split matrices from ``_split_rule``.
        h: recurrent states ``[pop, S, n_in·n_out]``.
        w: weights ``[pop, n_in, n_out]``.
        post_in: ``[pop, n_out, 5 + sd]``: post info and node signal per post neuron.
        pre_in: ``[pop, n_in, 6]``: pre info and flag per pre neuron.

    Returns:
        ``(out [pop, sd + 1, n_in, n_out], h' [pop, S, n_in·n_out])``.
    """
    pop, n_in, n_out = w.shape

    def layer(prefix: str, inp: Tensor) -> Tensor:
        n = net[prefix + "h"].shape[1]
        per_post = torch.baddbmm(net[prefix + "b"], post_in, net[prefix + "post"])  # [pop, n_out, n]
        per_pre = torch.bmm(pre_in, net[prefix + "pre"])  # [pop, n_in, n]
        y = torch.empty(pop, n, n_in, n_out, dtype=w.dtype, device=w.device)
        torch.add(per_post.transpose(1, 2).unsqueeze(2), per_pre.transpose(1, 2).unsqueeze(3), out=y)
        y.addcmul_(net[prefix + "w"].unsqueeze(3), w.unsqueeze(1))  # + w_ij · m_w
        y = y.view(pop, n, n_in * n_out)
        return y.baddbmm_(net[prefix + "h"], inp).tanh_()  # + M @ h, per synapse

    h_new = layer("s", h)
    out = layer("o", h_new)
    return out.view(pop, -1, n_in, n_out), h_new
