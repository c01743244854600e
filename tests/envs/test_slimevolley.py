"""MetaRL/SlimeVolley-v0 against slimevolleygym 0.1.0 itself, and its own contract (opponents, actions, info, checkers).

The parity tests need slimevolleygym (``pip install --no-deps slimevolleygym==0.1.0``: its old gym / cv2
dependencies are not needed, see slimevolley_reference.py); without it they skip and say so.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import metarl_gym  # noqa: F401
import slimevolley_reference as reference
from metarl_gym.agents.slimevolley_baseline import SlimeVolleyBaselinePolicy
from metarl_gym.envs.slimevolley import ATARI_ACTIONS, SlimeVolley
from metarl_gym.envs.xp import TORCH
from metarl_gym.errors import UserError
from metarl_gym.slimevolley_rnn import baseline_params

ENV_ID = "MetaRL/SlimeVolley-v0"
SV = reference.load()
needs_reference = pytest.mark.skipif(
    SV is None, reason="slimevolleygym is not installed: pip install --no-deps slimevolleygym==0.1.0 (gym/cv2 not needed)"
)
COLUMN = {name: i for i, name in enumerate(SlimeVolley.state_names)}


def make(n, **kwargs):
    return gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point", **kwargs).unwrapped


def serves_of(state_row) -> list[float]:
    """The serve velocities of one game in slimevolleygym's draw order: vx, vy of the first serve, then of each next."""
    values = [float(state_row[COLUMN["ball_vx"]]), float(state_row[COLUMN["ball_vy"]])]
    return values + [float(v) for v in state_row[COLUMN["launch1_vx"]:]]


def game_columns(game) -> dict[str, float]:
    """slimevolleygym's game state under our column names."""
    ball, left, right = game.ball, game.agent_left, game.agent_right
    values = {"ball_x": ball.x, "ball_y": ball.y, "ball_vx": ball.vx, "ball_vy": ball.vy, "ball_prev_x": ball.prev_x,
              "delay": game.delayScreen.life, "left_lives": left.life, "right_lives": right.life}
    for side, agent in (("left", left), ("right", right)):
        values.update({f"{side}_x": agent.x, f"{side}_y": agent.y, f"{side}_vx": agent.vx, f"{side}_vy": agent.vy})
    seen = right.state  # the right agent's relative state: own, ball, opponent (mirrored back to world x)
    values.update({"seen_ball_x": seen.bx, "seen_ball_y": seen.by, "seen_ball_vx": seen.bvx, "seen_ball_vy": seen.bvy,
                   "seen_right_x": seen.x, "seen_right_y": seen.y, "seen_right_vx": seen.vx, "seen_right_vy": seen.vy,
                   "seen_left_x": -seen.ox, "seen_left_y": seen.oy, "seen_left_vx": -seen.ovx, "seen_left_vy": seen.ovy})
    return {k: float(v) for k, v in values.items()}


class Events:
    """Counts what a reference game went through (so a parity test that saw nothing interesting fails)."""

    def __init__(self):
        self.counts = {"point": 0, "slime": 0, "stub": 0, "wall": 0, "fence": 0, "ceiling": 0}

    def after_step(self, game, result):
        b = game.ball
        if result != 0:
            self.counts["point"] += 1
        elif abs(abs(b.x) - (SV.REF_W / 2 - b.r - SV.NUDGE * SV.TIMESTEP)) < 1e-12:
            self.counts["wall"] += 1
        elif abs(abs(b.x) - (SV.REF_WALL_WIDTH / 2 + b.r + SV.NUDGE * SV.TIMESTEP)) < 1e-12:
            self.counts["fence"] += 1
        elif abs(b.y - (SV.REF_H - b.r - SV.NUDGE * SV.TIMESTEP)) < 1e-12:
            self.counts["ceiling"] += 1


def play_reference_and_ours(seed: int, n: int, opponent: str, steps: int, right_policy: str):
    """Play n games side by side in our env (float64) and in slimevolleygym's Game with the same serves and actions.

    The right agent follows slimevolleygym's BaselinePolicy with 30% random sticky actions (``"mixed"``) or random
    sticky actions only (``"random"``); the left agent is slimevolleygym's BaselinePolicy (with ``opponent="self"``
    its actions are passed to our env as the second action half; with ``"baseline"`` our env computes them).
    Returns our env, the per-step comparison records and the event counts.
    """
    env = make(n, opponent=opponent, dtype=torch.float64, autoreset_mode="disabled")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    games, lefts, rights, events = [], [], [], Events()
    for row in range(n):
        game = SV.Game(np_random=reference.Serves(serves_of(env.state[row])))
        games.append(game)
        lefts.append(SV.BaselinePolicy())
        rights.append(SV.BaselinePolicy())
    bounce = SV.Particle.bounce

    def counting_bounce(ball, p):
        events.counts["stub" if p.r == SV.REF_WALL_WIDTH / 2 else "slime"] += 1
        return bounce(ball, p)

    SV.Particle.bounce = counting_bounce
    sticky = [np.zeros(3) for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    try:
        for t in range(steps):
            right_actions, left_actions = [], []
            for row, game in enumerate(games):
                if rng.random() < 0.1:
                    sticky[row] = rng.integers(0, 2, 3).astype(float)
                action = rights[row].predict(game.agent_right.getObservation())
                if right_policy == "random" or rng.random() < 0.3:
                    action = list(sticky[row])
                right_actions.append(action)
                left_actions.append(lefts[row].predict(game.agent_left.getObservation()))
            actions = torch.tensor(right_actions, dtype=torch.float64)
            if opponent == "self":
                actions = torch.cat([actions, torch.tensor(left_actions, dtype=torch.float64)], dim=1)
            _, rewards, terminated, _, info = env.step(actions)
            state = env.state.numpy()
            observations = torch.stack(env.observation(TORCH, env.state.unbind(1)), dim=1).numpy()  # float64
            rewards, terminated = rewards.tolist(), terminated.tolist()
            lives, other_lives = info["lives"].tolist(), info["other_lives"].tolist()
            for row, game in enumerate(games):
                if done[row]:
                    continue
                game.agent_left.setAction(left_actions[row])
                game.agent_right.setAction(right_actions[row])
                result = game.step()
                events.after_step(game, result)
                ours = state[row]
                for name, value in game_columns(game).items():
                    if name.startswith("ball") and result != 0:
                        continue  # slimevolleygym replaced the ball by the new serve: compared below
                    assert ours[COLUMN[name]] == value, (t, row, name, ours[COLUMN[name]], value)
                if result != 0:
                    ball = game.ball
                    assert tuple(ours[:5]) == (ball.x, ball.y, ball.vx, ball.vy, ball.prev_x), (t, row)
                obs = observations[row]
                np.testing.assert_array_equal(obs[:12], game.agent_right.getObservation())
                if opponent == "self":
                    np.testing.assert_array_equal(obs[12:], game.agent_left.getObservation())
                else:  # our built-in opponent's recurrent state is slimevolleygym's BaselinePolicy's, to ~1e-16
                    hidden = ours[COLUMN["opponent_h0"]:COLUMN["opponent_h0"] + 7]
                    np.testing.assert_allclose(hidden, lefts[row].outputState, rtol=0, atol=1e-12)
                assert rewards[row] == result
                lost = game.agent_left.life <= 0 or game.agent_right.life <= 0
                assert terminated[row] == lost
                assert (lives[row], other_lives[row]) == (game.agent_right.life, game.agent_left.life)
                done[row] = lost
            if done.all():
                break
    finally:
        SV.Particle.bounce = bounce
    return env, events.counts, done


@needs_reference
@pytest.mark.parametrize("opponent", ["self", "baseline"])
def test_trajectories_equal_slimevolleygym_in_float64_over_whole_games(opponent):
    # random sticky buttons on the right lose quickly: whole games (5 points, 5 serves) inside 3,000 steps
    env, events, done = play_reference_and_ours(seed=1, n=6, opponent=opponent, steps=3000, right_policy="random")
    assert done.all()  # every game played to its end
    for name in ("point", "slime", "stub", "wall", "fence"):  # the ceiling (y = 47.5) is out of reach in play
        assert events[name] > 0, events


@needs_reference
def test_trajectories_with_long_rallies_and_the_fence_stub():
    # the baseline (with 30% random actions) on the right: long rallies, stub hits, both sides scoring
    env, events, _ = play_reference_and_ours(seed=5, n=4, opponent="self", steps=1500, right_policy="mixed")
    assert events["stub"] > 0 and events["slime"] > 20 and events["point"] > 2, events


def _reference_games(n: int, seed: int, right: str) -> np.ndarray:
    """(score, steps, points) of n slimevolleygym games against its BaselinePolicy, the right agent idle or baseline."""
    out = []
    rng = np.random.RandomState(seed)
    for _ in range(n):
        game = SV.Game(np_random=rng)
        left, right_policy = SV.BaselinePolicy(), SV.BaselinePolicy()
        score = steps = points = 0
        while steps < 3000:
            game.agent_left.setAction(left.predict(game.agent_left.getObservation()))
            action = right_policy.predict(game.agent_right.getObservation()) if right == "baseline" else [0, 0, 0]
            game.agent_right.setAction(action)
            result = game.step()
            score, steps, points = score + result, steps + 1, points + abs(result)
            if game.agent_left.life <= 0 or game.agent_right.life <= 0:
                break
        out.append((score, steps, points))
    return np.array(out, dtype=float)


def _our_games(n: int, seed: int, right: str) -> np.ndarray:
    env = make(n, autoreset_mode="disabled", dtype=torch.float64)
    policy = SlimeVolleyBaselinePolicy(env.single_observation_space, env.single_action_space)
    params = baseline_params(torch.float32).expand(n, -1)
    state = policy.initial_state(params)
    obs, _ = env.reset(seed=seed)
    score, steps, points = torch.zeros(n), torch.zeros(n), torch.zeros(n)
    alive = torch.ones(n, dtype=torch.bool)
    for _ in range(3000):
        if right == "baseline":
            actions, state = policy.act(params, obs, state)
        else:
            actions = torch.zeros(n, 3)
        obs, rewards, terminated, _, _ = env.step(actions)
        score += torch.where(alive, rewards, 0.0)
        points += torch.where(alive, rewards.abs(), 0.0)
        steps += alive.float()
        alive &= ~terminated
        if not alive.any():
            break
    return torch.stack([score, steps, points], dim=1).double().numpy()


@needs_reference
@pytest.mark.slow
@pytest.mark.parametrize("right, n_ref, n_ours", [("idle", 300, 2000), ("baseline", 60, 1000)])
def test_game_statistics_equal_slimevolleygym_within_sampling_error(right, n_ref, n_ours):
    theirs, ours = _reference_games(n_ref, seed=0, right=right), _our_games(n_ours, seed=0, right=right)
    for k, name in enumerate(("score", "steps", "points")):
        a, b = theirs[:, k], ours[:, k]
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) <= 4 * se + 1e-9, (name, a.mean(), b.mean(), se)


# ---------------------------------------------------------------------------------------------- our own contract
def _random_buttons(steps, n, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (steps, n, width), generator=g).float()


def test_masked_nudge_loop_equals_the_colliding_rows_loop():
    # the GPU / fixed-length path and the eager CPU path give the same bits, collisions included
    a, b = make(32, dtype=torch.float64, opponent="self"), make(32, dtype=torch.float64, opponent="self")
    b.masked_nudges = True
    a.reset(seed=3)
    b.reset(seed=3)
    for actions in _random_buttons(400, 32, 6):
        a.step(actions)
        b.step(actions)
    assert torch.equal(a.state, b.state)


def test_baseline_policy_on_the_left_of_self_play_equals_the_built_in_opponent():
    builtin, selfplay = make(64), make(64, opponent="self")
    policy = SlimeVolleyBaselinePolicy(selfplay.single_observation_space, selfplay.single_action_space)
    params = policy.published_params(64)
    state = policy.initial_state(params)
    builtin.reset(seed=2)
    obs, _ = selfplay.reset(seed=2)
    right = _random_buttons(300, 64, 3, seed=1)
    for t in range(300):
        both, state = policy.act(params, obs, state)
        ours = builtin.step(right[t])
        obs, *theirs = selfplay.step(torch.cat([right[t], both[:, 3:]], dim=1))
        assert torch.equal(ours[0], obs[:, :12]) and torch.equal(ours[1], theirs[0])
    assert torch.equal(builtin.state[:, :28], selfplay.state[:, :28])


def test_discrete_actions_follow_slimevolleygym_action_table():
    binary, discrete = make(6), make(6, action_type="discrete")
    binary.reset(seed=0)
    discrete.reset(seed=0)
    table = torch.tensor(ATARI_ACTIONS, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        k = torch.randint(0, 6, (6,), generator=g)
        assert torch.equal(binary.step(table[k])[0], discrete.step(k)[0])


def test_shaped_reward_is_the_seed_fitness_per_step():
    score, shaped = make(8), make(8, reward="shaped")
    score.reset(seed=4)
    shaped.reset(seed=4)
    for actions in _random_buttons(300, 8, 3):
        _, r, *_, info = score.step(actions)
        _, r_shaped, *_ = shaped.step(actions)
        expected = r + 0.01 * info["lives"] + 0.05 * (5 - info["other_lives"]) + 0.001
        torch.testing.assert_close(r_shaped, expected.float(), rtol=0, atol=1e-6)


def test_info_carries_both_lives_and_games_end_at_five_lost():
    env = make(16, autoreset_mode="disabled")
    _, info = env.reset(seed=0)
    assert (info["lives"] == 5).all() and (info["other_lives"] == 5).all()
    ended = torch.zeros(16, dtype=torch.bool)
    final_lives, final_other = torch.full((16,), -1), torch.full((16,), -1)
    for _ in range(3000):  # an idle right agent loses every game against the baseline well inside 3,000 steps
        _, _, terminated, _, info = env.step(torch.zeros(16, 3))
        new = terminated & ~ended
        final_lives = torch.where(new, info["lives"], final_lives)
        final_other = torch.where(new, info["other_lives"], final_other)
        ended |= terminated
        if ended.all():
            break
    assert ended.all() and (final_lives == 0).all() and (final_other > 0).all()
    single = gym.make(ENV_ID)
    _, info = single.reset(seed=0)
    assert info == {"lives": 5, "other_lives": 5, "ale.lives": 5, "ale.otherLives": 5}


def test_single_env_passes_gymnasium_and_sb3_checkers():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    for kwargs in ({}, {"action_type": "discrete"}, {"opponent": "self"}):
        env = gym.make(ENV_ID, render_mode="rgb_array", **kwargs)
        check_env(env.unwrapped)
        with _no_warnings():
            sb3_check_env(gym.make(ENV_ID, **kwargs), warn=True)


class _no_warnings:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.records = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        messages = [str(w.message) for w in self.records]
        assert not messages, messages


def test_single_env_equals_row_0_of_the_batch():
    batch = make(3, dtype=torch.float64, autoreset_mode="disabled")
    batch.reset(seed=11)
    single = gym.make(ENV_ID, dtype=torch.float64).unwrapped
    single.reset(seed=11)
    np.testing.assert_array_equal(single.state, batch.state[0].numpy())
    for actions in _random_buttons(500, 3, 3, seed=2):
        obs, reward, terminated, *_ = single.step(actions[0].numpy())
        b_obs, b_reward, b_terminated, *_ = batch.step(actions)
        np.testing.assert_array_equal(obs, b_obs[0].numpy())
        assert reward == float(b_reward[0]) and terminated == bool(b_terminated[0])
        if terminated:
            break
    np.testing.assert_allclose(single.state, batch.state[0].numpy(), rtol=0, atol=1e-12)


def test_make_vec_steps_ten_thousand_games():
    env = gym.make_vec(ENV_ID, num_envs=10_000, vectorization_mode="vector_entry_point")
    obs, _ = env.reset(seed=0)
    obs, rewards, terminated, truncated, info = env.step(torch.ones(10_000, 3))
    assert obs.shape == (10_000, 12) and rewards.shape == (10_000,) and info["lives"].shape == (10_000,)


def test_render_draws_the_game():
    env = make(2, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (250, 600, 3) and image.dtype == np.uint8
    colors = {tuple(c) for c in image.reshape(-1, 3)[::7]}
    assert {(35, 93, 188), (255, 236, 0), (217, 79, 0), (116, 114, 117)} <= colors  # both slimes, ball, ground


@pytest.mark.parametrize("kwargs, match", [
    ({"opponent": "human"}, "opponent"),
    ({"action_type": "box"}, "action_type"),
    ({"opponent": "self", "action_type": "discrete"}, "MultiBinary"),
    ({"reward": "survival"}, "reward"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(UserError, match=match):
        make(2, **kwargs)


def test_baseline_policy_rejects_other_spaces():
    env = make(2)
    with pytest.raises(ValueError, match="SlimeVolley"):
        SlimeVolleyBaselinePolicy(env.single_observation_space, gym.spaces.MultiBinary(6))
