"""The pybullet locomotion ids: Gymnasium contract, seeding, rewards, morphologies, vectorisation, rendering."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import gymnasium as gym
import numpy as np
import pybullet_data
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import metarl_gym  # noqa: F401  (registers the ids)
from metarl_gym.envs.bullet import BULLET_ENVS
from metarl_gym.envs.bullet.locomotion import ANT_STAND_ACTION, DT, REWARD_TERMS, WALK_TARGET, LocomotionSim
from metarl_gym.envs.bullet.robots import ANT, DAMAGED_ANKLES, HALF_CHEETAH, robot_xml_path

IDS = sorted(BULLET_ENVS)
ANT_ID = "MetaRL/AntBullet-v0"


def random_actions(steps: int, num_envs: int, action_dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(steps, num_envs, action_dim)).astype(np.float32)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    assert env.spec.max_episode_steps == 1000
    env.close()


def test_make_vec_16_runs_1000_random_steps():
    envs = gym.make_vec(ANT_ID, num_envs=16)
    assert envs.max_episode_steps == 1000
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (16, 28) and obs.dtype == torch.float32
    episodes = 0
    for actions in random_actions(1000, 16, 8):
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        episodes += int((terminated | truncated).sum())
    assert rewards.shape == (16,) and rewards.dtype == torch.float32
    assert torch.isfinite(obs).all() and (obs.abs() <= 5).all()
    assert set(infos) >= {"distance", "x_position", *(f"reward_{t}" for t in REWARD_TERMS)}
    assert episodes >= 16  # every row ended at least once (the time limit at the latest)
    envs.close()


def rollout_single(env, seed, actions) -> np.ndarray:
    """Rows ``[obs..., reward, terminated, distance]`` of one episode (the reset row has zeros)."""
    obs, _ = env.reset(seed=seed)
    rows = [np.concatenate([obs, [0.0, 0.0, 0.0]])]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        rows.append(np.concatenate([obs, [reward, terminated, info["distance"]]]))
        if terminated or truncated:
            break
    return np.stack(rows)


@pytest.mark.parametrize("env_id", ["MetaRL/AntBullet-v0", "MetaRL/HalfCheetahBullet-v0"])
def test_same_seed_same_trajectory_single(env_id):
    env = gym.make(env_id)
    actions = random_actions(80, 1, env.action_space.shape[0])[:, 0]
    first = rollout_single(env, 3, actions)
    second = rollout_single(env, 3, actions)
    other = rollout_single(env, 4, actions)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first[0], other[0])
    env.close()


def test_same_seed_same_trajectory_vector():
    def run():
        envs = gym.make_vec(ANT_ID, num_envs=3)
        obs, _ = envs.reset(seed=11)
        out = [obs]
        for a in random_actions(60, 3, 8):
            obs, rewards, *_ = envs.step(a)
            out += [obs, rewards[:, None]]
        envs.close()
        return torch.cat(out, dim=1)

    assert torch.equal(run(), run())


def test_vector_env_equals_single_env_for_same_seed_and_actions():
    morphologies = ["standard", "damaged_right", "damaged_left"]
    envs = gym.make_vec(ANT_ID, num_envs=3, morphology=morphologies)
    actions = random_actions(60, 3, 8, seed=5)
    obs, _ = envs.reset(seed=7)
    vector = [[obs[i].numpy()] for i in range(3)]
    for a in actions:
        obs, rewards, terminated, _, infos = envs.step(a)
        for i in range(3):
            vector[i].append(np.concatenate([obs[i].numpy(), [rewards[i], terminated[i], infos["distance"][i]]]))
    envs.close()
    for i, name in enumerate(morphologies):
        env = gym.make(ANT_ID, morphology=name)
        obs, _ = env.reset(seed=7 + i)  # row i follows the single env seeded seed + i
        np.testing.assert_array_equal(obs, vector[i][0])
        for t, a in enumerate(actions[:, i]):
            obs, reward, terminated, _, info = env.step(a)
            expected = vector[i][t + 1]
            np.testing.assert_array_equal(obs, expected[:28])
            assert np.float32(reward) == expected[28] and terminated == bool(expected[29])
            assert np.float32(info["distance"]) == expected[30]
            if terminated:
                break
        env.close()


def test_async_vector_env_matches_vector_entry_point():
    actions = random_actions(20, 2, 8, seed=2)
    async_envs = gym.make_vec(ANT_ID, num_envs=2, vectorization_mode="async")
    batched = gym.make_vec(ANT_ID, num_envs=2)
    obs_a, _ = async_envs.reset(seed=4)
    obs_b, _ = batched.reset(seed=4)
    np.testing.assert_array_equal(obs_a, obs_b.numpy())
    for a in actions:
        obs_a, rew_a, *_ = async_envs.step(a)
        obs_b, rew_b, *_ = batched.step(a)
    np.testing.assert_array_equal(obs_a, obs_b.numpy())
    np.testing.assert_allclose(rew_a, rew_b.numpy(), rtol=1e-6)
    async_envs.close()
    batched.close()


def test_zero_action_ant_collapses_as_pybullet_envs():
    """Unpowered legs stay flat, so the torso settles on the floor and the episode ends (pybullet_envs too)."""
    env = gym.make(ANT_ID)
    env.reset(seed=0)
    for t in range(1000):
        _, _, terminated, truncated, info = env.step(np.zeros(8, dtype=np.float32))
        if terminated or truncated:
            break
    assert terminated and t < 50
    assert info["reward_alive"] == -1.0 and env.unwrapped.sim.torso_xyz[2] < 0.26
    env.close()


def test_standing_ant_stays_alive_for_a_whole_episode():
    env = gym.make(ANT_ID)
    env.reset(seed=0)
    stand = np.array(ANT_STAND_ACTION, dtype=np.float32)
    for t in range(1000):
        _, _, terminated, truncated, info = env.step(stand)
        assert not terminated, f"the standing Ant fell at step {t}"
        assert info["reward_alive"] == 1.0
        if truncated:
            break
    assert truncated and t == 999
    assert abs(info["distance"]) < 0.5
    env.close()


@pytest.mark.parametrize("env_id", ["MetaRL/AntBullet-v0", "MetaRL/HalfCheetahBullet-v0"])
def test_reward_terms_add_up_to_the_reward(env_id):
    env = gym.make(env_id)
    env.reset(seed=1)
    for a in random_actions(100, 1, env.action_space.shape[0], seed=1)[:, 0]:
        _, reward, terminated, truncated, info = env.step(a)
        assert reward == pytest.approx(sum(info[f"reward_{t}"] for t in REWARD_TERMS), abs=1e-9)
        if terminated or truncated:
            break
    env.close()


def test_distance_reward_sums_to_the_distance_walked():
    env = gym.make(ANT_ID, reward="distance", burn_in_steps=40, terminate_when_unhealthy=False, max_episode_steps=150)
    _, info = env.reset(seed=2)
    assert info["distance"] == 0.0
    total = 0.0
    for a in random_actions(150, 1, 8, seed=2)[:, 0]:
        _, reward, terminated, truncated, info = env.step(a)
        total += reward
        assert not terminated
    assert truncated
    assert total == pytest.approx(info["distance"], abs=1e-9)
    assert info["distance"] == pytest.approx(info["x_position"] - env.unwrapped.sim.start_x)
    env.close()


def parts_distance_to_target(sim: LocomotionSim) -> float:
    """Distance from the mean x, y of the Ant's parts (base, every link, the floor part at the origin) to the
    walk target, read straight from pybullet: the potential of pybullet_envs' progress term is -this / dt."""
    p, body = sim.client, sim.body
    xy = [p.getBasePositionAndOrientation(body)[0][:2]]
    xy += [state[0][:2] for state in p.getLinkStates(body, list(range(p.getNumJoints(body))))]
    xy.append((0.0, 0.0))
    x, y = np.mean(np.array(xy), axis=0)
    return float(np.hypot(WALK_TARGET[0] - x, WALK_TARGET[1] - y))


def test_progress_reward_is_the_seeds_units():
    """reward="progress" is pybullet_envs' rewards[1] (the Hebbian seed's Ant fitness): every step it is the
    progress term, and an episode's sum telescopes to the parts' approach to the target divided by dt."""
    env = gym.make(ANT_ID, reward="progress", burn_in_steps=40, terminate_when_unhealthy=False, max_episode_steps=120)
    env.reset(seed=3)
    sim = env.unwrapped.sim
    start = parts_distance_to_target(sim)
    total = 0.0
    for a in random_actions(120, 1, 8, seed=3)[:, 0]:
        _, reward, _, truncated, info = env.step(a)
        assert reward == info["reward_progress"]
        total += reward
    assert truncated
    assert total == pytest.approx((start - parts_distance_to_target(sim)) / DT, rel=1e-6, abs=1e-6)
    env.close()


def link_geometry(sim: LocomotionSim) -> dict[int, np.ndarray]:
    """Per link: visual shape type and dimensions, mass and inertia, collision AABB at the load pose.

    (pybullet 3.2.7's getCollisionShapeData segfaults on MJCF capsules, so the collision geometry is read through
    the mass and inertia it implies (``inertiafromgeom``) and its axis-aligned bounding box.)
    """
    p, body = sim.client, sim.body
    visual = {shape[1]: [shape[2], *shape[3]] for shape in p.getVisualShapeData(body)}
    geometry = {}
    for link in range(-1, p.getNumJoints(body)):
        mass, _, inertia = p.getDynamicsInfo(body, link)[:3]
        low, high = p.getAABB(body, link)
        geometry[link] = np.array([*visual.get(link, []), mass, *inertia, *low, *high])
    return geometry


def test_damaged_morphologies_differ_only_in_the_shortened_ankle():
    standard = LocomotionSim(ANT, "standard")
    reference = link_geometry(standard)
    link_names = dict(zip(standard.foot_links, ANT.foot_list))
    for morphology, (_, foot) in DAMAGED_ANKLES.items():
        damaged = LocomotionSim(ANT, morphology)
        assert damaged.joint_names == standard.joint_names
        geometry = link_geometry(damaged)
        assert geometry.keys() == reference.keys()
        differing = [link for link in reference if not np.allclose(geometry[link], reference[link], atol=1e-7)]
        assert [link_names.get(link) for link in differing] == [foot], morphology
        (link,) = differing
        shape_type, length = geometry[link][:2]
        assert shape_type == reference[link][0] and length == pytest.approx(reference[link][1] / 4)  # 0.4√2 -> 0.1√2
        assert geometry[link][4] < reference[link][4]  # a lighter foot (mass from the shorter capsule)
        damaged.close()
    standard.close()


def test_damaged_xml_is_ant_xml_with_one_shorter_capsule():
    source = ET.parse(f"{pybullet_data.getDataPath()}/mjcf/ant.xml").getroot()
    for morphology, (_, foot) in DAMAGED_ANKLES.items():
        damaged = ET.parse(robot_xml_path(ANT, morphology)).getroot()
        pairs = list(zip(source.iter(), damaged.iter()))
        assert len(pairs) == len(list(source.iter())) == len(list(damaged.iter()))
        changed = [(a, b) for a, b in pairs if a.tag != b.tag or a.attrib != b.attrib]
        assert len(changed) == 1
        a, b = changed[0]
        assert a.tag == "geom" and set(a.attrib) == set(b.attrib)
        assert {k for k in a.attrib if a.attrib[k] != b.attrib[k]} == {"fromto"}
        old, new = (np.array(x.attrib["fromto"].split(), dtype=float) for x in (a, b))
        np.testing.assert_allclose(np.abs(old[3:5]), 0.4)
        np.testing.assert_allclose(new[3:], old[3:] / 4)
        assert damaged.find(f".//body[@name='{foot}']/geom") is not None


def test_held_out_morphology_id():
    env = gym.make("MetaRL/AntBulletDamaged-v0")
    assert env.unwrapped.morphology == "damaged_left"
    env.close()
    envs = gym.make_vec("MetaRL/AntBulletDamaged-v0", num_envs=2)
    assert envs.morphologies == ["damaged_left", "damaged_left"]
    envs.close()


def test_morphology_reset_option_and_errors():
    env = gym.make(ANT_ID)
    env.reset(seed=0, options={"morphology": "damaged_right"})
    assert env.unwrapped.morphology == "damaged_right"
    with pytest.raises(ValueError, match="unknown morphology"):
        env.reset(options={"morphology": "three_legged"})
    env.close()
    with pytest.raises(ValueError, match="morphology"):
        gym.make("MetaRL/HalfCheetahBullet-v0", morphology="damaged_left")
    with pytest.raises(ValueError, match="num_envs=3"):
        gym.make_vec(ANT_ID, num_envs=3, morphology=["standard", "damaged_right"])
    with pytest.raises(ValueError, match="reward"):
        gym.make(ANT_ID, reward="speed")
    envs = gym.make_vec(ANT_ID, num_envs=2)
    envs.reset(seed=0, options={"morphology": ["damaged_left", "damaged_right"], "reset_mask": np.array([False, True])})
    assert envs.morphologies == ["standard", "damaged_right"]
    with pytest.raises(ValueError, match="actions must have shape"):
        envs.step(np.zeros((2, 6)))
    envs.close()


def test_partial_reset_with_reset_mask():
    envs = gym.make_vec(ANT_ID, num_envs=4)
    envs.reset(seed=0)
    stand = np.array(ANT_STAND_ACTION, dtype=np.float32)
    for a in random_actions(30, 4, 8):
        obs, _, terminated, truncated, _ = envs.step(stand + 0.05 * a)  # standing: no row ends
        assert not (terminated | truncated).any()
    before = obs.clone()
    mask = np.array([True, False, True, False])
    obs, infos = envs.reset(options={"reset_mask": mask})
    assert torch.equal(obs[~torch.as_tensor(mask)], before[~torch.as_tensor(mask)])
    assert (obs[torch.as_tensor(mask), 0] == 0).all()  # height relative to the start height
    assert (infos["distance"][torch.as_tensor(mask)] == 0).all()
    assert envs.elapsed.tolist() == [0, 30, 0, 30]
    envs.close()


def test_next_step_autoreset():
    envs = gym.make_vec(ANT_ID, num_envs=2, max_episode_steps=25)
    envs.reset(seed=0)
    actions = np.zeros((2, 8), dtype=np.float32)
    actions[1] = ANT_STAND_ACTION  # row 0 collapses (terminated), row 1 stands (truncated at 25)
    done_at = [None, None]
    for t in range(26):
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        for i in range(2):
            if done_at[i] is None and (terminated[i] or truncated[i]):
                done_at[i] = t
                assert bool(terminated[i]) == (i == 0)
            elif done_at[i] == t - 1:  # the step after the end only resets the row
                assert rewards[i] == 0 and not terminated[i] and obs[i, 0] == 0
    assert done_at[0] < 25 and done_at[1] == 24
    envs.close()


def test_rgb_array_render():
    env = gym.make(ANT_ID, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8 and image.std() > 0
    env.close()
    envs = gym.make_vec("MetaRL/HalfCheetahBullet-v0", num_envs=2, render_mode="rgb_array", render_width=160, render_height=120)
    envs.reset(seed=0)
    assert envs.render().shape == (120, 160, 3)
    assert gym.make_vec(ANT_ID, num_envs=1).render() is None
    envs.close()


def test_half_cheetah_never_terminates():
    env = gym.make("MetaRL/HalfCheetahBullet-v0", max_episode_steps=200)
    env.reset(seed=0)
    for a in random_actions(200, 1, 6)[:, 0] * 1.0:
        _, _, terminated, truncated, _ = env.step(a)
        assert not terminated
    assert truncated
    assert HALF_CHEETAH.obs_dim == env.observation_space.shape[0] == 26
    env.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_vector_env_on_cuda():
    envs = gym.make_vec(ANT_ID, num_envs=2, device="cuda")
    obs, _ = envs.reset(seed=0)
    obs, rewards, terminated, truncated, infos = envs.step(torch.zeros(2, 8, device="cuda"))
    assert obs.device.type == rewards.device.type == terminated.device.type == infos["distance"].device.type == "cuda"
    envs.close()


def test_morphology_cycle_alternates_per_episode_and_restarts_on_full_reset():
    envs = gym.make_vec(ANT_ID, num_envs=3, morphology_cycle=["standard", "damaged_right"], max_episode_steps=3)
    envs.reset(seed=0)
    assert envs.morphologies == ["standard", "damaged_right", "standard"]  # row i starts at cycle[i % 2]
    envs.reset(options={"reset_mask": np.array([True, False, False])})  # row 0's second episode
    assert envs.morphologies == ["damaged_right", "damaged_right", "standard"]
    stand = np.tile(np.array(ANT_STAND_ACTION, dtype=np.float32), (3, 1))
    for _ in range(4):  # every row truncates at step 3 and restarts at step 4 (next-step autoreset)
        envs.step(stand)
    assert envs.cycle_episode.tolist() == [2, 1, 1]
    assert envs.morphologies == ["standard", "standard", "damaged_right"]
    envs.reset(seed=1)
    assert envs.morphologies == ["standard", "damaged_right", "standard"] and envs.cycle_episode.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="morphology_cycle"):
        envs.reset(options={"morphology": "standard"})
    envs.close()
