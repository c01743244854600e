"""Hebbian plastic networks: random initial weights changed every step by evolved per-synapse rules.

Najarro & Risi 2020, "Meta-Learning through Hebbian Plasticity in Random Networks", NeurIPS 2020,
arXiv 2007.02686 (seed repository enajx/HebbianMetaLearning). The genome is the Hebbian coefficient matrix
(``n_synapses × coeffs_per_synapse``, one row per synapse, pre-major) flattened row by row, optionally followed
by co-evolved initial weights; it is interchangeable with the seed's ``heb_coeffs``.

For a synapse from pre-neuron ``i`` to post-neuron ``j`` of a layer, with ``pre = o_l[i]`` and
``post = o_{l+1}[j]``, every rule of the seed is one case of

    ΔW[i, j] = a·pre·post + b·pre + c·post + d,

where ``a, b, c, d`` are fixed per synapse for a whole lifetime (e.g. ABCD_lr: ``a = η·A, b = η·B, c = η·C,
d = η·D``). :meth:`HebbianPolicy.initial_state` folds the coefficients into these four terms once per evaluation,
laid out like the weights. Compiled (``torch.compile``), one step of lifetime learning is then one fused kernel per
layer that reads W and its terms once and writes W once (eager torch takes a few in-place passes). On CPU the
update is memory-bound: every step touches ~24 bytes per synapse, which sets the throughput ceiling.

Weights are stored per individual as ``[pop, in, out]`` (pre-major, the layout of the coefficient rows and of
``x @ W``), i.e. the transpose of the seed's ``nn.Linear.weight`` ``[out, in]``.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import gymnasium as gym
import torch
from torch import Tensor

from .. import keys as rk
from .base import ParamLayout, Policy, State, activation_fn, bound_actions, check_output_bounds, check_params, tanh_exp

RULES: dict[str, tuple[str, ...]] = {
    "A": ("A",),
    "AD": ("A", "D"),
    "AD_lr": ("A", "D", "eta"),
    "ABC": ("A", "B", "C"),
    "ABC_lr": ("A", "B", "C", "eta"),
    "ABCD": ("A", "B", "C", "D"),
    "ABCD_lr": ("A", "B", "C", "eta", "D"),
    "ABCD_lr_D_out": ("A", "B", "C", "eta", "D"),
    "ABCD_lr_D_in_and_out": ("A", "B", "C", "eta", "D_in", "D_out"),
}
"""Hebbian rule name -> coefficient names in the seed's column order."""

INIT_WEIGHTS = ("uni", "normal", "xa_uni", "ka_uni", "sparse", "uni_big", "xa_uni_big", "zeros", "ones", "default", "coevolve")
"""Initial-weight modes (seed ``--init_weights``). All but ``coevolve`` are re-drawn for every evaluation."""

OUTPUTS = ("clip", "tanh_clip", "tanh")

COMPILE_MIN_SYNAPSE_UPDATES = 1 << 20
"""``compile=None`` compiles on CPU when pop × n_synapses reaches this many synapse updates per step."""


def rule_terms(rule: str, coeffs: dict[str, Tensor]) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Fold a rule's coefficients into the terms ``(a, b, c, d)`` of ``ΔW = a·pre·post + b·pre + c·post + d``.

    Args:
        rule: a key of :data:`RULES`.
        coeffs: coefficient name -> tensor (any common shape).

    Returns:
        ``(a, b, c, d)``; a term the rule does not have is ``None``.
    """
    eta = coeffs.get("eta")

    def lr(x: Tensor | None) -> Tensor | None:
        return x if x is None or eta is None else eta * x

    a, b, c = lr(coeffs["A"]), lr(coeffs.get("B")), lr(coeffs.get("C"))
    if rule == "ABCD_lr_D_out":
        d = coeffs["D"]  # added outside the learning rate
    elif rule == "ABCD_lr_D_in_and_out":
        d = eta * coeffs["D_in"] + coeffs["D_out"]
    else:
        d = lr(coeffs.get("D"))
    return a, b, c, d


class HebbianPolicy(Policy):
    """A bias-free MLP whose weights start random and change every step by evolved Hebbian rules.

    Network (seed ``MLP_heb``): ``o1 = act(o0 @ W1)``, ``o2 = act(o1 @ W2)``, ..., ``o_L = o_{L-1} @ W_L``
    (linear output), then bounded per the action space: Box ``"clip"`` (seed default for Box envs),
    ``"tanh_clip"`` (Bullet envs: the action and the rule's post-synaptic value are ``tanh(o_L)``), or
    ``"tanh"`` (squash into [low, high]); Discrete: argmax. The observation enters unchanged (``o0 = obs``).

    The weights change in :meth:`learn` (called after ``env.step``) from the activations stored by the last
    :meth:`act`. Genome layout: ``coeffs (n_synapses, n_coeffs)`` with row ``layer_offset + i·n_out + j`` for the
    synapse from pre ``i`` to post ``j`` and columns in the order of :data:`RULES`; with
    ``init_weights="coevolve"`` it is followed by ``w{k}_init (out, in)`` per layer (``nn.Linear`` layout, as the
    seed's ``vector_to_parameters``).

    State (a dict, re-created per evaluation, persisting across its episodes):
    ``weights`` (list of ``[pop, in, out]``), ``terms`` (per layer ``(a, b, c, d)``, each ``[pop, in, out]`` or
    None), ``acts`` (the last forward's ``[o0, ..., o_L]``, ``o_L`` as the rule sees it).

    Precision: float32; a float64 genome runs the whole lifetime in float64 (for exact reference checks).
    Actions are float32 (Box) or int64 (Discrete).

    Args:
        observation_space: flat Box observation space.
        action_space: Box or Discrete.
        hidden_sizes: hidden widths (seed: 128, 64).
        rule: Hebbian rule, a key of :data:`RULES` (seed default ``"ABCD_lr"``).
        init_weights: initial-weight distribution, one of :data:`INIT_WEIGHTS` (seed default ``"uni"``).
        activation: hidden-layer activation (seed: tanh).
        output: Box bounding mode, one of ``"clip"``, ``"tanh_clip"``, ``"tanh"``.
        normalize_weights: after every update divide each layer by its max |w| (per individual), as the seed
            does for non-Bullet envs.
        plasticity: ``False`` gives the same network and genome with no weight updates (the control).
        weight_clip: bound on |w| after every update, so a growing rule saturates instead of overflowing;
            ``None`` disables it. Far above what sane rules reach. A NaN weight (a rule that computed inf - inf)
            stays NaN: :meth:`state_is_finite` reports it and ``rollout`` scores the individual ``-inf``.
        compile: fuse the forward pass and the update into compiled kernels with ``torch.compile`` (``True``;
            the first call per population size takes tens of seconds, and 2-thread kernels stall on an
            oversubscribed CPU), ``None`` to compile on CPU when pop × n_synapses ≥
            :data:`COMPILE_MIN_SYNAPSE_UPDATES`, or ``False`` (default, eager torch). Falls back to eager torch
            (with a warning) if compilation fails.
    """

    plastic = True

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (128, 64),
        rule: str = "ABCD_lr",
        init_weights: str = "uni",
        activation: str = "tanh",
        output: str = "clip",
        normalize_weights: bool = False,
        plasticity: bool = True,
        weight_clip: float | None = 1e4,
        compile: bool | None = False,
    ):
        super().__init__(observation_space, action_space)
        if rule not in RULES:
            raise ValueError(f"unknown Hebbian rule {rule!r}; choose one of {list(RULES)}")
        if init_weights not in INIT_WEIGHTS:
            raise ValueError(f"unknown init_weights {init_weights!r}; choose one of {list(INIT_WEIGHTS)}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        check_output_bounds(action_space, output, type(self).__name__)
        if any(int(h) < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive integers, got {tuple(hidden_sizes)}")
        if weight_clip is not None and not weight_clip > 0:
            raise ValueError(f"weight_clip must be > 0 or None, got {weight_clip!r}")
        self.rule, self.init_weights, self.output = rule, init_weights, output
        self.activation_name = activation
        self.activation = activation_fn(activation)
        self.normalize_weights = bool(normalize_weights)
        self.plasticity = self.plastic = bool(plasticity)
        self.weight_clip = None if weight_clip is None else float(weight_clip)
        self.compile = compile
        self.sizes = (self.obs_dim, *(int(h) for h in hidden_sizes), self.action_dim)
        self.layer_shapes = list(zip(self.sizes[:-1], self.sizes[1:]))  # (in, out) per layer
        self.n_synapses = sum(i * o for i, o in self.layer_shapes)
        self.coeff_names = RULES[rule]
        shapes: dict[str, tuple[int, ...]] = {"coeffs": (self.n_synapses, len(self.coeff_names))}
        if init_weights == "coevolve":
            for k, (n_in, n_out) in enumerate(self.layer_shapes, start=1):
                shapes[f"w{k}_init"] = (n_out, n_in)
        self.layout = ParamLayout(shapes)

    # ------------------------------------------------------------------ lifetime
    @torch.no_grad()
    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> State:
        """Fresh weights and the per-layer update terms for one evaluation.

        Args:
            params: ``[pop, num_params]``.
            keys: ``[pop]`` int64 lifetime keys (:mod:`metarl_gym.keys`): row i's random initial weights are a
                function of ``keys[i]`` alone (ignored for ``coevolve``, ``zeros``, ``ones``); None: fresh entropy.

        Returns:
            The state dict described in the class docstring.
        """
        check_params(params, self.num_params)
        dtype = _compute_dtype(params)
        parts = self.layout.unflatten(params.to(dtype))
        pop, device = params.shape[0], params.device
        keys = rk.random_keys(pop, device) if keys is None else keys.to(device)
        coeffs = parts["coeffs"]  # [pop, n_synapses, n_coeffs]
        weights, terms, offset = [], [], 0
        for k, (n_in, n_out) in enumerate(self.layer_shapes, start=1):
            block = coeffs[:, offset : offset + n_in * n_out].reshape(pop, n_in, n_out, -1)
            offset += n_in * n_out
            named = {name: block[..., c] for c, name in enumerate(self.coeff_names)}
            terms.append(tuple(None if t is None else t.contiguous() for t in rule_terms(self.rule, named)))
            if self.init_weights == "coevolve":
                # always a copy: the lifetime's updates must never write into the genome
                w = parts[f"w{k}_init"].transpose(1, 2).clone(memory_format=torch.contiguous_format)
            else:
                w = init_weights(self.init_weights, (n_in, n_out), rk.key(keys, rk.POLICY_INIT, k)).to(dtype)
            weights.append(w)
        return {"weights": weights, "terms": terms, "acts": None}

    @torch.no_grad()
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """Forward pass; stores the activations for the next :meth:`learn`.

        Args:
            params: ``[pop, num_params]`` (unused here: the state holds what the forward needs).
            obs: ``[pop, obs_dim]``.
            state: from :meth:`initial_state`.

        Returns:
            ``(actions, state)``.
        """
        if state is None:
            raise ValueError("HebbianPolicy.act needs the state from initial_state(params, keys)")
        weights = state["weights"]
        if obs.shape != (weights[0].shape[0], self.obs_dim):
            raise ValueError(f"obs must have shape [pop, {self.obs_dim}] = {(weights[0].shape[0], self.obs_dim)}, got {tuple(obs.shape)}")
        obs = obs.to(device=weights[0].device, dtype=weights[0].dtype)
        forward = self._kernel("forward", state)
        actions, acts = forward(weights, obs, self.activation_name, self.output, self.action_space)
        state["acts"] = acts
        return (actions if actions.dtype == torch.int64 else actions.to(torch.float32)), state

    @torch.no_grad()
    def learn(self, params: Tensor, state: State, rewards: Tensor) -> State:
        """One Hebbian update of every layer from the last :meth:`act` (rewards are not used by these rules)."""
        if not self.plasticity or state is None or state["acts"] is None:
            return state
        update = self._kernel("update", state)
        update(state["weights"], state["terms"], state["acts"], self.weight_clip, self.normalize_weights)
        state["acts"] = None  # each forward pass drives exactly one update
        return state

    def state_is_finite(self, state: State) -> Tensor | None:
        """``[pop]`` bool: every plastic weight of the individual is finite."""
        if state is None:
            return None
        ok = None
        for w in state["weights"]:
            row = torch.isfinite(w.reshape(w.shape[0], -1)).all(dim=1)
            ok = row if ok is None else ok & row
        return ok

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``[pop, num_params]`` drawn N(0, 1), the seed's ES initialisation (coefficients and co-evolved weights)."""
        draw_device = generator.device if generator is not None else device
        params = torch.randn(pop, self.num_params, generator=generator, device=draw_device)
        return params.to(device) if device is not None else params

    # ------------------------------------------------------------------ kernels
    def _kernel(self, name: str, state: State):
        """The eager or compiled implementation of ``name`` ("forward" or "update") for this state."""
        if torch.compiler.is_compiling():  # inside a caller's compiled region (the blocked rollout engine): trace the fused form
            return _FUSED[name]
        use = state.get("compiled")
        if use is None:
            w0 = state["weights"][0]
            if self.compile is None:
                big = w0.shape[0] * self.n_synapses >= COMPILE_MIN_SYNAPSE_UPDATES
                use = big and w0.device.type == "cpu"
            else:
                use = bool(self.compile)
            state["compiled"] = use
        if not use or _COMPILE_BROKEN:
            return _EAGER[name]
        return _guarded(name, state)


def _compute_dtype(params: Tensor) -> torch.dtype:
    """float32, or float64 when the genome is float64 (for exact reference checks)."""
    return torch.float64 if params.dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------- initial weights
def init_weights(mode: str, shape: tuple[int, int], keys: Tensor) -> Tensor:
    """Random initial weights ``[pop, in, out]`` float32 as the seed's ``--init_weights`` (torch.nn.init
    semantics), row i drawn from ``keys[i]`` alone (``keys [pop]`` int64, :mod:`metarl_gym.keys`).

    ``fan_in = in`` and ``fan_out = out`` as for ``nn.Linear``.
    """
    n_in, n_out = shape
    full = (keys.shape[0], n_in, n_out)

    def uniform(bound: float) -> Tensor:
        return (rk.uniform(keys, shape) * 2 - 1) * bound

    if mode == "uni":
        w = uniform(0.1)
    elif mode == "uni_big":
        w = uniform(1.0)
    elif mode == "normal":
        w = rk.normal(keys, shape) * 0.024
    elif mode == "xa_uni":
        w = uniform(0.3 * math.sqrt(6.0 / (n_in + n_out)))
    elif mode == "xa_uni_big":
        w = uniform(math.sqrt(6.0 / (n_in + n_out)))
    elif mode == "ka_uni":  # kaiming_uniform_(w, a=3): gain sqrt(2 / (1 + a²))
        w = uniform(math.sqrt(2.0 / 10.0) * math.sqrt(3.0 / n_in))
    elif mode == "default":  # nn.Linear's own init: kaiming_uniform_(a=√5) -> bound 1/sqrt(fan_in)
        w = uniform(1.0 / math.sqrt(n_in))
    elif mode == "sparse":  # sparse_(w, 0.8, std=0.01): per input, ceil(0.8·out) of its out weights are zero
        w = rk.normal(keys, shape) * 0.01
        n_zero = math.ceil(0.8 * n_out)
        order = rk.uniform(rk.key(keys, 1), shape).argsort(dim=2)
        w.scatter_(2, order[..., :n_zero], 0.0)
    elif mode == "zeros":
        w = torch.zeros(full, device=keys.device)
    elif mode == "ones":
        w = torch.ones(full, device=keys.device)
    else:
        raise ValueError(f"init_weights {mode!r} has no random draw; choose one of {list(INIT_WEIGHTS[:-1])}")
    return w


# ---------------------------------------------------------------------- kernels (pure functions)
def _forward(weights: list[Tensor], obs: Tensor, activation: str, output: str, action_space: gym.Space):
    """``(actions, [o0, ..., o_L])`` where o_L is the rule-facing output (tanh(o_L) under tanh_clip)."""
    act = activation_fn(activation)
    h = torch.nan_to_num(obs, nan=0.0, posinf=1e6, neginf=-1e6)  # a broken observation must not poison W
    acts = [h]
    for k, w in enumerate(weights):
        h = torch.bmm(h.unsqueeze(1), w).squeeze(1)
        if k < len(weights) - 1:
            h = act(h)
        acts.append(h)
    raw = acts[-1]
    if output == "tanh_clip" and isinstance(action_space, gym.spaces.Box):
        acts[-1] = torch.tanh(raw)
    return bound_actions(raw, action_space, output), acts


def _update(weights, terms, acts, clip: float | None, normalize: bool) -> None:
    """Eager Hebbian update of every layer in place: few passes, in-place ops."""
    for k, w in enumerate(weights):
        a, b, c, d = terms[k]
        pre, post = acts[k].unsqueeze(2), acts[k + 1].unsqueeze(1)  # [pop, in, 1], [pop, 1, out]
        if a is not None:  # pre·(a·post + b)
            w.addcmul_(torch.addcmul(b, a, post) if b is not None else a * post, pre)
        elif b is not None:
            w.addcmul_(b, pre)
        if c is not None:
            w.addcmul_(c, post)
        if d is not None:
            w.add_(d)
        if clip is not None:  # clamp keeps NaN: a broken rule must stay visible (state_is_finite)
            w.clamp_(-clip, clip)
        if normalize:
            w.div_(w.abs().amax(dim=(1, 2), keepdim=True).clamp_min_(1e-30))


_tanh_exp = tanh_exp  # the compiled kernels' tanh (see agents.base.tanh_exp)


def _forward_fused(weights: list[Tensor], obs: Tensor, activation: str, output: str, action_space: gym.Space):
    """Compiled twin of :func:`_forward`: each layer is one reduction kernel with its activation."""
    act = _tanh_exp if activation == "tanh" else activation_fn(activation)
    h = torch.nan_to_num(obs, nan=0.0, posinf=1e6, neginf=-1e6)
    acts = [h]
    for k, w in enumerate(weights):
        h = (h.unsqueeze(2) * w).sum(dim=1)
        if k < len(weights) - 1:
            h = act(h)
        acts.append(h)
    raw = acts[-1]
    if output == "tanh_clip" and isinstance(action_space, gym.spaces.Box):
        acts[-1] = _tanh_exp(raw)
    return bound_actions(raw, action_space, output), acts


def _update_fused(weights, terms, acts, clip: float | None, normalize: bool) -> None:
    """Compiled twin of :func:`_update`: one read of W and its terms, one write of W, per layer."""
    for k, w in enumerate(weights):
        a, b, c, d = terms[k]
        pre, post = acts[k].unsqueeze(2), acts[k + 1].unsqueeze(1)
        new = w
        if a is not None:
            new = new + (a * post + b) * pre if b is not None else new + a * post * pre
        elif b is not None:
            new = new + b * pre
        if c is not None:
            new = new + c * post
        if d is not None:
            new = new + d
        if clip is not None:  # clamp keeps NaN, as the eager update does
            new = new.clamp(-clip, clip)
        if normalize:
            new = new / new.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-30)
        w.copy_(new)


_EAGER = {"forward": _forward, "update": _update}
_FUSED = {"forward": _forward_fused, "update": _update_fused}
_COMPILED: dict[str, object] = {}
_COMPILE_BROKEN = False


def _compiled(name: str):
    """The torch.compile'd kernel (created once per process, shared by every policy)."""
    if name not in _COMPILED:
        _COMPILED[name] = torch.compile(_FUSED[name], dynamic=False)  # one specialised kernel per population size
    return _COMPILED[name]


def _guarded(name: str, state: State):
    """The compiled kernel, falling back to eager torch for good if compiling fails (no compiler, ...)."""
    compiled = _compiled(name)

    def call(*args):
        global _COMPILE_BROKEN
        try:
            return compiled(*args)
        except Exception as err:  # compilation is an optimisation: never let it break a run
            warnings.warn(f"torch.compile of the Hebbian {name} kernel failed ({type(err).__name__}: {err}); using eager torch")
            state["compiled"] = False
            _COMPILE_BROKEN = True
            return _EAGER[name](*args)

    return call
