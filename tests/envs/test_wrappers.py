"""Vector wrappers on torch batches: MaskVelocity, ToNumpy, RecordEpisodeStatistics, Trial, and their stacking."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.envs import TORCH_ENVS
from metarl_gym.envs.wrappers import MaskVelocity, MaskVelocityObservation, RecordEpisodeStatistics, ToNumpy, Trial
from helpers import make_vec, random_actions

IDS = sorted(TORCH_ENVS)
VELOCITY_COLUMNS = {
    "MetaRL/CartPole-v1": [1, 3],
    "MetaRL/Pendulum-v0": [2],
    "MetaRL/PendulumSwingup-v1": [2],
    "MetaRL/DoublePendulum-v0": [2, 5],
    "MetaRL/SlimeVolley-v0": [2, 3, 6, 7, 10, 11],  # [x, y, vx, vy] of the agent, the ball, the opponent
}
MODES = ["next_step", "same_step"]


def kept_columns(env_id):
    dim = TORCH_ENVS[env_id].load()(1).single_observation_space.shape[0]
    return [i for i in range(dim) if i not in VELOCITY_COLUMNS[env_id]]


# ---------------------------------------------------------------- MaskVelocity
@pytest.mark.parametrize("env_id", IDS)
def test_mask_velocity_drops_exactly_the_velocity_columns(env_id):
    env, ref = MaskVelocity(make_vec(env_id, 3, max_episode_steps=10)), make_vec(env_id, 3, max_episode_steps=10)
    keep = kept_columns(env_id)
    assert env.velocity_indices == tuple(VELOCITY_COLUMNS[env_id])
    full = ref.single_observation_space
    assert env.single_observation_space == gym.spaces.Box(full.low[keep], full.high[keep], dtype=np.float32)
    assert env.observation_space.shape == (3, len(keep))
    obs, _ = env.reset(seed=0)
    ref_obs, _ = ref.reset(seed=0)
    assert torch.equal(obs, ref_obs[:, keep])
    for actions in random_actions(ref, 25):  # crosses two autoresets
        obs, rewards, _, _, _ = env.step(actions)
        ref_obs, ref_rewards, _, _, _ = ref.step(actions)
        assert torch.equal(obs, ref_obs[:, keep]) and torch.equal(rewards, ref_rewards)


def test_mask_velocity_masks_same_step_final_obs():
    env_id = "MetaRL/DoublePendulum-v0"
    env = MaskVelocity(make_vec(env_id, 2, max_episode_steps=4, autoreset_mode="same_step"))
    ref = make_vec(env_id, 2, max_episode_steps=4, autoreset_mode="same_step")
    keep = kept_columns(env_id)
    env.reset(seed=0)
    ref.reset(seed=0)
    for step, actions in enumerate(random_actions(ref, 4), start=1):
        obs, _, _, truncated, infos = env.step(actions)
        ref_obs, _, _, _, ref_infos = ref.step(actions)
        assert torch.equal(obs, ref_obs[:, keep])
    assert truncated.all() and infos["_final_obs"].all()
    assert infos["final_obs"].shape == (2, 4)
    assert torch.equal(infos["final_obs"], ref_infos["final_obs"][:, keep])


@pytest.mark.parametrize("env_id", IDS)
def test_mask_velocity_observation_on_single_env(env_id):
    env, ref = MaskVelocityObservation(gym.make(env_id)), gym.make(env_id)
    keep = kept_columns(env_id)
    assert env.observation_space.shape == (len(keep),)
    obs, _ = env.reset(seed=0)
    ref_obs, _ = ref.reset(seed=0)
    np.testing.assert_array_equal(obs, ref_obs[keep])
    assert env.observation_space.contains(obs)
    env.action_space.seed(0)
    for _ in range(5):
        action = env.action_space.sample()
        obs, *_ = env.step(action)
        ref_obs, *_ = ref.step(action)
        np.testing.assert_array_equal(obs, ref_obs[keep])


def test_mask_velocity_without_velocity_columns_raises():
    env = make_vec("MetaRL/Pendulum-v0", 2)
    env.velocity_indices = ()
    with pytest.raises(ValueError, match="velocity_indices"):
        MaskVelocity(env)
    with pytest.raises(TypeError, match="MaskVelocityObservation"):
        MaskVelocity(gym.make("MetaRL/CartPole-v1"))


# ---------------------------------------------------------------- ToNumpy
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env_id", ["MetaRL/CartPole-v1", "MetaRL/Pendulum-v0"])
def test_to_numpy_types_and_values_equal_the_torch_ones(env_id, mode):
    env = ToNumpy(make_vec(env_id, 3, max_episode_steps=6, autoreset_mode=mode))
    ref = make_vec(env_id, 3, max_episode_steps=6, autoreset_mode=mode)
    obs, info = env.reset(seed=0)
    ref_obs, _ = ref.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, ref_obs.numpy())
    saw_final_obs = False
    for i, actions in enumerate(random_actions(ref, 14)):
        out = env.step(actions.numpy() if i % 2 else actions)  # numpy and torch actions alike
        ref_out = ref.step(actions)
        for value, ref_value, dtype in zip(out[:4], ref_out[:4], (np.float32, np.float32, np.bool_, np.bool_)):
            assert isinstance(value, np.ndarray) and value.dtype == dtype
            np.testing.assert_array_equal(value, ref_value.numpy())
        if "final_obs" in ref_out[4]:
            saw_final_obs = True
            assert isinstance(out[4]["final_obs"], np.ndarray) and isinstance(out[4]["_final_obs"], np.ndarray)
            np.testing.assert_array_equal(out[4]["final_obs"], ref_out[4]["final_obs"].numpy())
    assert saw_final_obs == (mode == "same_step")
    # Numpy reset options reach the torch env.
    obs, _ = env.reset(options={"reset_mask": np.array([True, False, True])})
    assert isinstance(obs, np.ndarray)


def test_gymnasium_array_conversion_bridge_matches_to_numpy():
    """Gymnasium's own bridge works on these envs too (needs the optional array-api-compat package)."""
    pytest.importorskip("array_api_compat")
    from gymnasium.wrappers.vector import ArrayConversion

    env = ToNumpy(make_vec("MetaRL/CartPole-v1", 3, max_episode_steps=6, autoreset_mode="same_step"))
    bridged = ArrayConversion(make_vec("MetaRL/CartPole-v1", 3, max_episode_steps=6, autoreset_mode="same_step"), env_xp=torch, target_xp=np)
    np.testing.assert_array_equal(env.reset(seed=0)[0], bridged.reset(seed=0)[0])
    for actions in random_actions(env, 8).numpy():
        out, bridged_out = env.step(actions), bridged.step(actions)
        for value, bridged_value in zip(out[:4], bridged_out[:4]):
            assert isinstance(bridged_value, np.ndarray)
            np.testing.assert_array_equal(value, bridged_value)
        assert out[4].keys() == bridged_out[4].keys()


# ---------------------------------------------------------------- RecordEpisodeStatistics
def test_record_episode_statistics_equals_hand_count_on_cartpole():
    n = 4
    env = RecordEpisodeStatistics(make_vec("MetaRL/CartPole-v1", n))
    ref = make_vec("MetaRL/CartPole-v1", n)
    env.reset(seed=3)
    ref.reset(seed=3)
    returns, lengths, prev_done = [0.0] * n, [0] * n, [False] * n
    expected, got = [], []
    for actions in random_actions(ref, 150, seed=1):
        _, _, _, _, infos = env.step(actions)
        _, rewards, terminated, truncated, _ = ref.step(actions)
        for i in range(n):
            if prev_done[i]:  # NEXT_STEP: this step only resets the row
                assert rewards[i] == 0
                returns[i], lengths[i] = 0.0, 0
            else:
                returns[i] += float(rewards[i])
                lengths[i] += 1
            prev_done[i] = bool(terminated[i] or truncated[i])
            if prev_done[i]:
                expected.append((i, returns[i], lengths[i]))
        if "episode" in infos:
            stats, mask = infos["episode"], infos["_episode"]
            assert stats["r"].dtype == torch.float64 and stats["l"].dtype == torch.int64 and mask.dtype == torch.bool
            assert (stats["t"][mask] >= 0).all() and (stats["r"][~mask] == 0).all()
            got += [(i, float(stats["r"][i]), int(stats["l"][i])) for i in torch.nonzero(mask).flatten().tolist()]
        else:
            assert not any(prev_done)
    assert len(expected) > 10 and got == expected
    assert env.episode_count == len(expected)
    assert list(env.return_queue) == [r for _, r, _ in expected][-100:]
    assert list(env.length_queue) == [length for _, _, length in expected][-100:]


@pytest.mark.parametrize("mode, episodes_per_row", [("next_step", 3), ("same_step", 4)])
def test_record_episode_statistics_truncation_lengths_on_pendulum(mode, episodes_per_row):
    env = RecordEpisodeStatistics(make_vec("MetaRL/Pendulum-v0", 3, max_episode_steps=7, autoreset_mode=mode), buffer_length=5)
    env.reset(seed=0)
    total = torch.zeros(3, dtype=torch.float64)
    for actions in random_actions(env, 30):
        _, rewards, _, truncated, infos = env.step(actions)
        total += rewards.double()
        assert ("episode" in infos) == bool(truncated.any())
    # NEXT_STEP: each episode is 7 steps plus one reset step, so 30 steps hold 3 episodes per row; SAME_STEP: 4.
    assert env.episode_count == 3 * episodes_per_row
    assert list(env.length_queue) == [7] * 5 and len(env.return_queue) == 5


def test_record_episode_statistics_partial_reset_and_numpy_guard():
    env = RecordEpisodeStatistics(make_vec("MetaRL/CartPole-v1", 2))
    env.reset(seed=0)
    env.step(torch.zeros(2, dtype=torch.int64))
    env.reset(options={"reset_mask": np.array([True, False])})
    assert env.episode_lengths.tolist() == [0, 1]
    with pytest.raises(TypeError, match="ToNumpy"):
        bad = RecordEpisodeStatistics(ToNumpy(make_vec("MetaRL/CartPole-v1", 2)))
        bad.reset(seed=0)
        bad.step(np.zeros(2, dtype=np.int64))


# ---------------------------------------------------------------- Trial
@pytest.mark.parametrize("mode", MODES)
def test_trial_keeps_tasks_within_a_trial_and_redraws_between(mode):
    n, k = 4, 2
    base = make_vec("MetaRL/Pendulum-v0", n, max_episode_steps=3, task_ranges={"g": (5.0, 15.0)}, autoreset_mode=mode)
    env = Trial(base, episodes_per_trial=k)
    assert env.unwrapped is base and base.resample_tasks is False
    _, info = env.reset(seed=0)
    assert info["episode_in_trial"].tolist() == [0] * n
    trial = [0] * n
    g_of = {(i, 0): {float(base.tasks["g"][i])} for i in range(n)}
    dones_in_trial = [0] * n
    for actions in random_actions(env, 40):
        _, _, terminated, truncated, infos = env.step(actions)
        dones, trial_done, episode = terminated | truncated, infos["trial_done"], infos["episode_in_trial"]
        assert trial_done.dtype == torch.bool and episode.dtype == torch.int64
        assert ((episode >= 0) & (episode < k)).all()
        assert torch.equal(trial_done, dones & (episode == k - 1))
        for i in range(n):
            dones_in_trial[i] += bool(dones[i])
            if mode == "same_step" and trial_done[i]:  # the new trial's task is already in place
                trial[i] += 1
            g_of.setdefault((i, trial[i]), set()).add(float(base.tasks["g"][i]))
            if mode == "next_step" and trial_done[i]:
                trial[i] += 1
            if trial_done[i]:
                assert dones_in_trial[i] == k
                dones_in_trial[i] = 0
    assert min(trial) >= 3
    for i in range(n):
        per_trial = [g_of[(i, t)] for t in range(trial[i] + 1) if (i, t) in g_of]
        assert all(len(g) == 1 for g in per_trial), per_trial  # constant within a trial
        values = [g.pop() for g in per_trial]
        assert all(a != b for a, b in zip(values, values[1:]))  # changed between trials
        assert all(5.0 <= g <= 15.0 for g in values)


def test_trial_reset_starts_new_trials_in_the_reset_rows():
    base = make_vec("MetaRL/Pendulum-v0", 3, max_episode_steps=2, task_ranges={"g": (5.0, 15.0)})
    env = Trial(base, episodes_per_trial=3)
    env.reset(seed=0)
    for actions in random_actions(env, 4):
        env.step(actions)
    assert env.episode_in_trial.tolist() == [1, 1, 1]
    g_before = base.tasks["g"].clone()
    obs, info = env.reset(options={"reset_mask": torch.tensor([True, False, True])})
    assert info["episode_in_trial"].tolist() == [0, 1, 0]
    assert (base.tasks["g"] != g_before).tolist() == [True, False, True]
    assert (obs[[0, 2], 3:] == 0).all()


def test_trial_observation_extension_values_on_pendulum():
    base, ref = make_vec("MetaRL/Pendulum-v0", 3, max_episode_steps=4), make_vec("MetaRL/Pendulum-v0", 3, max_episode_steps=4)
    env = Trial(base, episodes_per_trial=2)
    assert env.single_observation_space.shape == (3 + 1 + 2,)
    assert env.observation_space.shape == (3, 6)
    obs, _ = env.reset(seed=1)
    ref_obs, _ = ref.reset(seed=1)
    assert torch.equal(obs[:, :3], ref_obs) and (obs[:, 3:] == 0).all()
    prev_done = torch.zeros(3, dtype=torch.bool)
    for actions in random_actions(env, 15, scale=1.5):  # some actions outside the bounds: clipped
        obs, rewards, terminated, truncated, _ = env.step(actions)
        ref_obs, ref_rewards, _, _, _ = ref.step(actions)
        assert torch.equal(obs[:, :3], ref_obs) and torch.equal(rewards, ref_rewards)
        expected_action = torch.where(prev_done[:, None], 0.0, actions.clamp(-1.0, 1.0))  # reset step: 0
        assert torch.equal(obs[:, 3:4], expected_action)
        assert torch.equal(obs[:, 4], rewards)
        prev_done = terminated | truncated
        assert torch.equal(obs[:, 5], prev_done.float())
        assert all(env.single_observation_space.contains(row) for row in obs.numpy())


def test_trial_one_hot_actions_on_cartpole():
    base, ref = make_vec("MetaRL/CartPole-v1", 4), make_vec("MetaRL/CartPole-v1", 4)
    env = Trial(base, episodes_per_trial=3)
    assert env.single_observation_space.shape == (4 + 2 + 2,)
    env.reset(seed=2)
    ref.reset(seed=2)
    prev_done = torch.zeros(4, dtype=torch.bool)
    for actions in random_actions(env, 40):
        obs, rewards, terminated, truncated, _ = env.step(actions.numpy())  # numpy actions too
        ref_obs, _, _, _, _ = ref.step(actions)
        one_hot = torch.nn.functional.one_hot(actions, 2).float()
        assert torch.equal(obs[:, :4], ref_obs)
        assert torch.equal(obs[:, 4:6], torch.where(prev_done[:, None], 0.0, one_hot))
        prev_done = terminated | truncated
        assert torch.equal(obs[:, 6], rewards) and torch.equal(obs[:, 7], prev_done.float())


def test_trial_extends_same_step_final_obs():
    base = make_vec("MetaRL/Pendulum-v0", 2, max_episode_steps=3, autoreset_mode="same_step")
    ref = make_vec("MetaRL/Pendulum-v0", 2, max_episode_steps=3, autoreset_mode="same_step")
    env = Trial(base, episodes_per_trial=2)
    env.reset(seed=0)
    ref.reset(seed=0)
    for actions in random_actions(env, 3):
        obs, rewards, _, _, infos = env.step(actions)
        ref_obs, _, _, _, ref_infos = ref.step(actions)
    assert infos["final_obs"].shape == (2, 6) and infos["episode_in_trial"].tolist() == [0, 0]
    assert torch.equal(infos["final_obs"][:, :3], ref_infos["final_obs"])
    expected = torch.cat([actions, rewards[:, None], torch.ones(2, 1)], dim=1)
    assert torch.equal(infos["final_obs"][:, 3:], expected) and torch.equal(obs[:, 3:], expected)
    assert torch.equal(obs[:, :3], ref_obs)  # first episode of the trial ended: no extra reset


def test_trial_rejects_bad_arguments():
    with pytest.raises(ValueError, match="episodes_per_trial"):
        Trial(make_vec("MetaRL/Pendulum-v0", 2), episodes_per_trial=0)
    with pytest.raises(ValueError, match="NEXT_STEP or SAME_STEP"):
        Trial(make_vec("MetaRL/Pendulum-v0", 2, autoreset_mode="disabled"), episodes_per_trial=2)


# ---------------------------------------------------------------- stacking
def test_wrappers_stack():
    base = make_vec("MetaRL/Pendulum-v0", 3, max_episode_steps=5, task_ranges={"g": (5.0, 15.0)})
    env = MaskVelocity(RecordEpisodeStatistics(base))
    assert env.unwrapped is base and env.unwrapped.num_envs == 3
    assert env.unwrapped.sample_tasks(2)["g"].shape == (2,)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 2)
    for actions in random_actions(env, 5):
        obs, _, _, truncated, infos = env.step(actions)
    assert obs.shape == (3, 2) and truncated.all()
    assert infos["episode"]["l"].tolist() == [5, 5, 5]


def test_full_stack_to_numpy():
    base = make_vec("MetaRL/CartPole-v1", 3, max_episode_steps=6)
    env = ToNumpy(RecordEpisodeStatistics(MaskVelocity(Trial(base, episodes_per_trial=2))))
    assert env.single_observation_space.shape == (2 + 2 + 2,) and env.unwrapped is base
    obs, info = env.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.shape == (3, 6) and isinstance(info["episode_in_trial"], np.ndarray)
    trial_dones = 0
    for actions in random_actions(base, 20).numpy():
        obs, rewards, terminated, truncated, infos = env.step(actions)
        assert obs.shape == (3, 6) and all(env.single_observation_space.contains(row) for row in obs)
        assert isinstance(infos["trial_done"], np.ndarray)
        trial_dones += int(infos["trial_done"].sum())
        if "episode" in infos:
            assert isinstance(infos["episode"]["r"], np.ndarray)
    assert trial_dones >= 3
