"""pybullet locomotion as Gymnasium envs: one robot in one pybullet DIRECT client.

:class:`LocomotionSim` re-implements what pybullet_envs (``robot_bases.py``, ``robot_locomotors.py``,
``env_bases.py``, ``gym_locomotion_envs.py``, ``scene_abstract.py``, ``scene_stadium.py``) does for one walker,
without the retired ``gym`` package: the scene, MJCF loading, motors, ``calc_state`` and the reward terms.
:class:`BulletLocomotionEnv` wraps one sim as a numpy ``gymnasium.Env`` (what ``gym.make`` returns); the
torch batch over many clients is :class:`metarl_gym.envs.bullet.vector.BulletLocomotionVectorEnv`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet_data


@contextlib.contextmanager
def _quiet(*fds: int):
    """Silence C-level prints of pybullet on file descriptors ``fds`` (1 = stdout, 2 = stderr).

    pybullet prints "pybullet build time" (stderr) on import and "argv[0]=" (stdout) on every connect: with N
    clients, N lines. Python-level exceptions are unaffected.
    """
    saved = {}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in fds}
    except (AttributeError, OSError, ValueError):  # no such file descriptors: leave them be
        for fd in saved.values():
            os.close(fd)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            for fd in fds:
                os.dup2(devnull.fileno(), fd)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    ctypes.CDLL(None).fflush(None)
                for fd, copy in saved.items():
                    os.dup2(copy, fd)
    finally:
        for copy in saved.values():
            os.close(copy)


with _quiet(1, 2):
    import pybullet
from pybullet_utils import bullet_client  # noqa: E402

from .robots import ANT, HALF_CHEETAH, OBS_CLIP, RobotSpec, check_morphology, robot_xml_path  # noqa: E402

TIMESTEP = 0.0165 / 4
"""Physics sub-step in seconds (pybullet_envs' WalkerBaseBulletEnv scene)."""
FRAME_SKIP = 4
"""Physics sub-steps per env step."""
DT = TIMESTEP * FRAME_SKIP
"""Seconds per env step (0.0165)."""
GRAVITY = 9.8
WALK_TARGET = (1e3, 0.0)
"""The walk target, a kilometre away along +x, as pybullet_envs."""

ELECTRICITY_COST = -2.0
STALL_TORQUE_COST = -0.1
JOINTS_AT_LIMIT_COST = -0.1
REWARD_TERMS = ("alive", "progress", "electricity", "stall_torque", "joints_at_limit", "feet_collision")
"""Names of the reward terms; ``info["reward_<name>"]`` holds each, and the default reward is their sum."""
REWARD_MODES = ("default", "distance", "progress")
ANT_STAND_ACTION = (0.0, 0.1, 0.0, -0.1, 0.0, -0.1, 0.0, 0.1)
"""A constant Ant action that keeps it standing: hips idle, each ankle pressing its foot down with 0.1."""

_MJCF_FLAGS = pybullet.URDF_USE_SELF_COLLISION | pybullet.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS | pybullet.URDF_GOOGLEY_UNDEFINED_COLORS


class LocomotionSim:
    """One walker on pybullet_envs' stadium floor in its own pybullet DIRECT client.

    The scene is pybullet_envs' ``SinglePlayerStadiumScene``: gravity 9.8, ``plane_stadium.sdf`` (an infinite
    collision plane, lateral friction 0.8, restitution 0.5), 5 solver iterations, contact ERP 0.9,
    ``fixedTimeStep = 0.0165`` split into 4 sub-steps, deterministic overlapping pairs. The robot is loaded
    from MJCF with self-collision, as ``MJCFBasedRobot``.

    Args:
        robot: the robot spec (:data:`~metarl_gym.envs.bullet.robots.ANT` or ``HALF_CHEETAH``).
        morphology: one of ``robot.morphologies``.
        reward: ``"default"`` (sum of the reward terms), ``"distance"`` (the torso's x displacement this step,
            metres) or ``"progress"`` (the progress term alone: the Hebbian seed's fitness units).
        burn_in_steps: zero-action steps simulated inside :meth:`reset` before the first observation.
        terminate_when_unhealthy: whether ``alive < 0`` ends the episode (for robots whose spec terminates).
    """

    def __init__(
        self,
        robot: RobotSpec,
        morphology: str = "standard",
        reward: str = "default",
        burn_in_steps: int = 0,
        terminate_when_unhealthy: bool = True,
    ):
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        if not isinstance(burn_in_steps, (int, np.integer)) or burn_in_steps < 0:
            raise ValueError(f"burn_in_steps must be a non-negative integer, got {burn_in_steps!r}")
        self.robot = robot
        self.reward_mode = reward
        self.burn_in_steps = int(burn_in_steps)
        self.terminates = robot.terminates and bool(terminate_when_unhealthy)
        with _quiet(1):
            self.client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
        p = self.client
        p.resetSimulation()
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        p.setGravity(0, 0, -GRAVITY)
        p.setDefaultContactERP(0.9)
        p.setPhysicsEngineParameter(fixedTimeStep=DT, numSolverIterations=5, numSubSteps=FRAME_SKIP)
        self.floor = p.loadSDF(os.path.join(pybullet_data.getDataPath(), "plane_stadium.sdf"))[0]
        p.changeDynamics(self.floor, -1, lateralFriction=0.8, restitution=0.5)
        p.changeVisualShape(self.floor, -1, rgbaColor=[1, 1, 1, 0.8])
        self.body = None
        self.morphology = None
        self.load(morphology)

    # ------------------------------------------------------------------ loading
    def load(self, morphology: str) -> None:
        """(Re)load the robot with ``morphology`` and save the start state that :meth:`reset` restores."""
        check_morphology(self.robot, morphology)
        if morphology == self.morphology:
            return
        p = self.client
        if self.body is not None:
            p.removeState(self.state_id)
            p.removeBody(self.body)
        bodies = p.loadMJCF(robot_xml_path(self.robot, morphology), flags=_MJCF_FLAGS)
        if len(bodies) != 1:
            raise RuntimeError(f"{self.robot.xml} loaded as {len(bodies)} bodies; expected one")
        self.body = body = bodies[0]
        self.morphology = morphology

        # XmlBasedRobot.addToScene: every link is a "part" (named by its link); the base is the part "torso"
        # unless a link carries that name; motors are the joints not named "ignore*" / "jointfix*".
        parts: dict[str, int] = {}
        root = None
        motors, names, lower, upper = [], [], [], []
        num_joints = p.getNumJoints(body)
        for j in range(num_joints):
            info = p.getJointInfo(body, j)
            joint_name, link_name = info[1].decode(), info[12].decode()
            parts[link_name] = j
            if link_name == "torso":
                root = j
            if j == 0 and root is None:
                parts["torso"] = root = -1
            if not joint_name.startswith(("ignore", "jointfix")):
                motors.append(j)
                names.append(joint_name)
                lower.append(info[8])
                upper.append(info[9])
        if len(motors) != self.robot.action_dim:
            raise RuntimeError(f"{self.robot.xml} has motors {names}; expected {self.robot.action_dim}")
        p.setJointMotorControlArray(body, list(range(num_joints)), pybullet.POSITION_CONTROL, forces=[0.0] * num_joints)

        self.joint_names = tuple(names)
        self.motors = motors
        self.root_link = root
        self.part_links = [link for link in parts.values() if link >= 0]
        self.lower, self.upper = np.array(lower), np.array(upper)
        coefs = np.array([self.robot.power_coefs.get(name, 100.0) for name in names])
        self.torque_scale = self.robot.power * coefs
        self.foot_links = [parts[name] for name in self.robot.foot_list]
        # The parts' mean x, y (the "body_xyz" the progress is measured on) includes the floor's part at the
        # origin, as pybullet_envs adds the floor to the robot's parts after its first reset.
        self._part_order = list(parts.values())
        self.state_id = p.saveState()

    # ------------------------------------------------------------------ episode
    def reset(self, np_random: np.random.Generator) -> np.ndarray:
        """Restore the start state, set each motor joint to U(-0.1, 0.1) rad at rest; return the obs ``[obs_dim]``."""
        p = self.client
        p.restoreState(self.state_id)
        for j, q in zip(self.motors, np_random.uniform(low=-0.1, high=0.1, size=len(self.motors))):
            p.resetJointState(self.body, j, targetValue=float(q), targetVelocity=0.0)
            p.setJointMotorControl2(self.body, j, pybullet.POSITION_CONTROL, targetPosition=0, targetVelocity=0,
                                    positionGain=0.1, velocityGain=0.1, force=0)
        self.feet_contact = np.zeros(len(self.robot.foot_list), dtype=np.float32)
        self.initial_z = None
        self.obs = self._calc_state()
        self.potential = self._calc_potential()
        zero = np.zeros(self.robot.action_dim, dtype=np.float32)
        for _ in range(self.burn_in_steps):
            self.step(zero)
        self.start_x = self.torso_xyz[0]
        self.terms = dict.fromkeys(REWARD_TERMS, 0.0)
        return self.obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """Apply ``action [action_dim]`` for one env step (4 physics sub-steps).

        Returns:
            ``(obs [obs_dim] float32, reward, terminated)``; the reward terms are in ``self.terms``.
        """
        p = self.client
        a = np.asarray(action, dtype=np.float32)
        if not np.isfinite(a).all():
            raise ValueError(f"action contains NaN or inf: {a}")
        old_x = self.torso_xyz[0]
        torques = self.torque_scale * np.clip(a, -1.0, 1.0)
        p.setJointMotorControlArray(self.body, self.motors, pybullet.TORQUE_CONTROL, forces=torques.tolist())
        p.stepSimulation()

        self.obs = self._calc_state()
        alive = float(self.robot.alive(float(self.obs[0]) + self.initial_z, self.body_rpy[1], self.feet_contact))
        terminated = self.terminates and alive < 0
        if not np.isfinite(self.obs).all():
            terminated = True
        potential_old = self.potential
        self.potential = self._calc_potential()
        progress = float(self.potential - potential_old)

        # Feet contacts are updated after the state and the alive bonus, so both see the previous step's.
        touching = {c[3] for c in p.getContactPoints(bodyA=self.body, bodyB=self.floor) if c[4] == -1}
        self.feet_contact[:] = [1.0 if link in touching else 0.0 for link in self.foot_links]

        electricity = ELECTRICITY_COST * float(np.abs(a * self.joint_speeds).mean())
        stall = STALL_TORQUE_COST * float(np.square(a).mean())
        joints_at_limit = float(JOINTS_AT_LIMIT_COST * self.joints_at_limit)
        feet_collision = 0.0  # pybullet_envs leaves this term at zero (its code is commented out)
        self.terms = dict(zip(REWARD_TERMS, (alive, progress, electricity, stall, joints_at_limit, feet_collision)))
        if self.reward_mode == "distance":
            reward = float(self.torso_xyz[0] - old_x)
        elif self.reward_mode == "progress":  # pybullet_envs' rewards[1], the Hebbian seed's Ant reward
            reward = progress
        else:
            reward = sum([alive, progress, electricity + stall, joints_at_limit, feet_collision])
        return self.obs, reward, bool(terminated)

    @property
    def distance(self) -> float:
        """x displacement of the torso since the start of the episode (after burn-in), metres."""
        return float(self.torso_xyz[0] - self.start_x)

    def info(self) -> dict[str, float]:
        """``distance``, ``x_position`` and ``reward_<term>`` of the last step."""
        info = {"distance": self.distance, "x_position": float(self.torso_xyz[0])}
        info.update({f"reward_{name}": value for name, value in self.terms.items()})
        return info

    # ------------------------------------------------------------------ observation (WalkerBase.calc_state)
    def _calc_state(self) -> np.ndarray:
        p = self.client
        joint_states = p.getJointStates(self.body, self.motors)
        pos = np.array([s[0] for s in joint_states])
        vel = np.array([s[1] for s in joint_states])
        mid = 0.5 * (self.lower + self.upper)
        j = np.empty(2 * len(self.motors), dtype=np.float32)
        j[0::2] = 2 * (pos - mid) / (self.upper - self.lower)  # position scaled to [-1, 1] between the limits
        j[1::2] = 0.1 * vel
        self.joint_speeds = j[1::2]
        self.joints_at_limit = np.count_nonzero(np.abs(j[0::2]) > 0.99)

        link_states = dict(zip(self.part_links, p.getLinkStates(self.body, self.part_links)))
        base_pos, base_orn = p.getBasePositionAndOrientation(self.body)
        xyz = [base_pos if link < 0 else link_states[link][0] for link in self._part_order]
        xyz.append((0.0, 0.0, 0.0))  # the floor's part
        xyz = np.array(xyz)
        if self.root_link < 0:
            torso_pos, torso_orn = base_pos, base_orn
            speed = p.getBaseVelocity(self.body)[0]
        else:
            torso_pos, torso_orn = link_states[self.root_link][:2]
            speed = p.getLinkState(self.body, self.root_link, computeLinkVelocity=1)[6]
        self.torso_xyz = np.array(torso_pos)
        self.body_xyz = (xyz[:, 0].mean(), xyz[:, 1].mean(), self.torso_xyz[2])  # torso z is more informative
        self.body_rpy = p.getEulerFromQuaternion(torso_orn)
        z = self.body_xyz[2]
        if self.initial_z is None:
            self.initial_z = z
        roll, pitch, yaw = self.body_rpy
        dy, dx = WALK_TARGET[1] - self.body_xyz[1], WALK_TARGET[0] - self.body_xyz[0]
        self.walk_target_dist = np.linalg.norm([dy, dx])
        angle_to_target = np.arctan2(dy, dx) - yaw
        rot = np.array([[np.cos(-yaw), -np.sin(-yaw), 0], [np.sin(-yaw), np.cos(-yaw), 0], [0, 0, 1]])
        vx, vy, vz = np.dot(rot, speed)  # velocity in the torso's heading frame
        more = np.array(
            [z - self.initial_z, np.sin(angle_to_target), np.cos(angle_to_target), 0.3 * vx, 0.3 * vy, 0.3 * vz, roll, pitch],
            dtype=np.float32,
        )
        return np.clip(np.concatenate([more, j, self.feet_contact]), -OBS_CLIP, OBS_CLIP)

    def _calc_potential(self) -> float:
        # Progress in this potential field is the speed toward the target times dt, per step.
        return -self.walk_target_dist / DT

    # ------------------------------------------------------------------ rendering
    def render(self, width: int = 320, height: int = 240) -> np.ndarray:
        """RGB image ``[height, width, 3]`` uint8 from pybullet's TinyRenderer, the camera following the torso."""
        p = self.client
        view = p.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=self.torso_xyz.tolist(), distance=3, yaw=0, pitch=-30, roll=0, upAxisIndex=2
        )
        proj = p.computeProjectionMatrixFOV(fov=60, aspect=width / height, nearVal=0.1, farVal=100.0)
        _, _, px, _, _ = p.getCameraImage(width, height, viewMatrix=view, projectionMatrix=proj, renderer=pybullet.ER_TINY_RENDERER)
        return np.asarray(px, dtype=np.uint8).reshape(height, width, -1)[:, :, :3].copy()

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.disconnect()
            self.client = None


class BulletLocomotionEnv(gym.Env):
    """A pybullet walker as a numpy Gymnasium env (one DIRECT client); subclasses set ``robot``.

    See :class:`AntBulletEnv` and :class:`HalfCheetahBulletEnv` for the env cards.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}
    robot: RobotSpec

    def __init__(
        self,
        morphology: str = "standard",
        reward: str = "default",
        burn_in_steps: int = 0,
        terminate_when_unhealthy: bool = True,
        render_mode: str | None = None,
        render_width: int = 320,
        render_height: int = 240,
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.sim = LocomotionSim(
            self.robot, morphology, reward=reward, burn_in_steps=burn_in_steps, terminate_when_unhealthy=terminate_when_unhealthy
        )
        high = np.ones(self.robot.action_dim, dtype=np.float32)
        self.action_space = gym.spaces.Box(-high, high, dtype=np.float32)
        high = np.full(self.robot.obs_dim, OBS_CLIP, dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.render_mode = render_mode
        self.render_width, self.render_height = int(render_width), int(render_height)

    @property
    def morphology(self) -> str:
        return self.sim.morphology

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode; ``options={"morphology": name}`` switches the robot's morphology first.

        Returns:
            ``(obs [obs_dim] float32, info)``.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"morphology"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; {type(self).__name__} takes 'morphology'")
        if options.get("morphology") is not None:
            self.sim.load(options["morphology"])
        obs = self.sim.reset(self.np_random)
        return obs.copy(), self.sim.info()

    def step(self, action):
        """Returns ``(obs [obs_dim], reward, terminated, truncated=False, info)``; TimeLimit truncates."""
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        obs, reward, terminated = self.sim.step(action)
        return obs.copy(), reward, terminated, False, self.sim.info()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self.sim.render(self.render_width, self.render_height)

    def close(self):
        if getattr(self, "sim", None) is not None:
            self.sim.close()


class AntBulletEnv(BulletLocomotionEnv):
    """## Description
    pybullet_envs' ``AntBulletEnv-v0`` (roboschool's quadruped, ``pybullet_data/mjcf/ant.xml``) re-implemented
    on Gymnasium: a four-legged robot walks toward a target 1 km away along +x. Physics: pybullet in DIRECT mode,
    0.0165 s per step (4 sub-steps of 0.0165/4 s), 5 solver iterations, the stadium floor
    (``plane_stadium.sdf``, lateral friction 0.8, restitution 0.5). The torso is free (the XML's root joint is
    commented out, so it is pybullet's floating base).

    ## Action Space
    ``Box(-1, 1, (8,), float32)``: torques of hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3, hip_4, ankle_4
    (XML order), clipped to [-1, 1] and scaled by power 2.5 × power coefficient 100 (pybullet_envs' scale).

    ## Observation Space
    ``Box(-5, 5, (28,), float32)``: 8 "more" values — torso height minus its
    starting height, sin and cos of the angle to the target, 0.3 × torso velocity in the heading frame (3),
    roll, pitch — then, per motor, its position scaled to [-1, 1] between the joint limits and 0.1 × its
    speed (16), then 4 foot contacts with the floor (front_left, front_right, left_back, right_back; the
    previous step's, as pybullet_envs).

    ## Rewards
    ``reward="default"``: the sum of pybullet_envs' terms, each in ``info["reward_<name>"]``:
    ``alive`` (+1, or -1 once the torso is below 0.26 m), ``progress`` (change of the potential
    -distance_to_target / 0.0165 of the mean x, y of all parts, i.e. ≈ speed toward the target × step),
    ``electricity`` (-2 × mean |action × joint speed|), ``stall_torque`` (-0.1 × mean action²),
    ``joints_at_limit`` (-0.1 per joint beyond 99 % of its range) and ``feet_collision`` (always 0, as
    pybullet_envs). ``reward="distance"``: the torso's x displacement this step in metres, which sums to
    ``info["distance"]``. ``reward="progress"``: the progress term alone, pybullet_envs' ``rewards[1]``, which
    the Hebbian seed sums as its Ant fitness ("seed units"). Over an episode it sums to (start - end distance
    of the parts' mean x, y to the target) / 0.0165 s; walking straight along +x that is about
    60.6 × 21/22 ≈ 58 per metre of torso travel (the mean is over the Ant's 21 parts and the floor part that
    pybullet_envs counts among them, which stays at the origin).

    ## Starting State
    The XML pose (torso at 0.75 m, legs horizontal), each motor joint at U(-0.1, 0.1) rad from ``np_random``,
    at rest. The legs are unpowered: with zero actions they stay flat and the torso settles onto the floor,
    which ends the episode after about 20 steps (exactly as pybullet_envs' AntBulletEnv-v0). A small ankle
    torque holds the Ant up: :data:`ANT_STAND_ACTION` keeps it standing (torso near 0.36 m) for a whole
    episode. ``burn_in_steps`` zero-action steps may be simulated inside ``reset`` (the Hebbian seed uses 40,
    after which its Ant lies on the floor and must get up; pair it with ``terminate_when_unhealthy=False``).

    ## Episode End
    Terminated when ``alive < 0`` (torso below 0.26 m; unless ``terminate_when_unhealthy=False``) or the state
    is not finite; truncated after 1,000 steps (``max_episode_steps``; burn-in steps do not count).

    ## Info
    ``distance`` (torso x minus its x at the start, metres), ``x_position``, ``reward_<term>`` for
    ``alive, progress, electricity, stall_torque, joints_at_limit, feet_collision``.

    ## The Hebbian seed's Ant (``examples/configs/hebbian_ant.yaml``)
    Its fitness is ``reward="progress"`` summed over an episode ("seed units", about 58 per metre along +x;
    measured 58-65 per metre on Hebbian walkers that moved 0.1 m or more), after ``burn_in_steps=40``, with the
    rollout early stop ``{patience: 30, after: 200}``. The seed ignores ``done`` for the first 200 steps and then
    ends an unhealthy Ant's episode; ``terminate_when_unhealthy=False`` never ends it (a lying Ant earns about
    zero progress, so the sums differ little). Results in ``examples/RESULTS.md`` (Hebbian Ant).

    ## Arguments
    ``morphology="standard" | "damaged_left" | "damaged_right"`` (the Hebbian seed's Ant with the ankle
    capsule of ``front_left_leg`` or ``right_back_leg`` shortened from 0.4 to 0.1, generated from
    pybullet_data's ant.xml; ``reset(options={"morphology": ...})`` switches it),
    ``reward="default" | "distance" | "progress"``, ``burn_in_steps=0``, ``terminate_when_unhealthy=True``,
    ``render_mode=None | "rgb_array"`` (TinyRenderer,
    ``render_width=320``, ``render_height=240``, camera 3 m behind the torso, pitch -30°).

    ## Differences from pybullet_envs
    - The floor part is always included in the parts' mean position; pybullet_envs adds it only after the first
      ``reset``, so its very first episode starts with a spurious progress jump (later episodes match).
    - The stall torque cost is reported apart from the electricity cost (pybullet_envs adds them into one term);
      the default reward is the same sum.
    - Starting noise comes from Gymnasium's ``np_random`` (PCG64) instead of ``RandomState``.
    - The observation space's bounds are the clip range [-5, 5] of its values (pybullet_envs declares ±inf).
    - ``reward="distance"`` / ``"progress"``, ``burn_in_steps``, ``terminate_when_unhealthy`` and the
      morphologies are additions; ``render`` uses the
      TinyRenderer (no OpenGL), and there is no "human" mode.

    ## Vectorisation
    ``gym.make_vec(id, N)`` gives the torch-batched N-client env (the registered ``vector_entry_point``, the
    recommended default: faster than async on 2 cores, see :mod:`metarl_gym.envs.bullet.vector`);
    ``vectorization_mode="async"`` gives Gymnasium's AsyncVectorEnv over this env (numpy), row ``i`` seeded
    ``seed + i`` in both, so the two give the same trajectories.
    """

    robot = ANT


class HalfCheetahBulletEnv(BulletLocomotionEnv):
    """## Description
    pybullet_envs' ``HalfCheetahBulletEnv-v0`` (``pybullet_data/mjcf/half_cheetah.xml``) re-implemented on
    Gymnasium: a planar two-legged runner (the torso moves on x, z and pitch through slide/hinge joints named
    ``ignore*``) runs toward a target 1 km away along +x. Physics and scene as :class:`AntBulletEnv`.

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: torques of bthigh, bshin, bfoot, fthigh, fshin, ffoot, clipped to [-1, 1]
    and scaled by power 0.9 × power coefficients 120, 90, 60, 140, 60, 30 (pybullet_envs' values).

    ## Observation Space
    ``Box(-5, 5, (26,), float32)``: the 8 "more" values of :class:`AntBulletEnv`,
    per motor its scaled position and 0.1 × speed (12), and 6 contacts of ffoot, fshin, fthigh, bfoot, bshin,
    bthigh with the floor (the previous step's).

    ## Rewards
    As :class:`AntBulletEnv`, with ``alive`` = +1 while |pitch| < 1 rad and no thigh or shin touches the floor,
    else -1. ``reward="distance"`` gives the torso's x displacement per step, ``reward="progress"`` the
    progress term alone.

    ## Starting State
    The XML pose, each motor joint at U(-0.1, 0.1) rad, at rest.

    ## Episode End
    Never terminated (as pybullet_envs, whose HalfCheetah ``_isDone`` is always False) unless the state is not
    finite; truncated after 1,000 steps.

    ## Info
    As :class:`AntBulletEnv`.

    ## Arguments
    ``reward="default" | "distance" | "progress"``, ``burn_in_steps=0``, ``render_mode``, ``render_width``,
    ``render_height``; ``morphology`` accepts only ``"standard"``; ``terminate_when_unhealthy`` has no
    effect (the cheetah never terminates).

    ## Differences from pybullet_envs
    As :class:`AntBulletEnv` (floor part always in the mean, stall torque reported apart, PCG64 noise).
    """

    robot = HALF_CHEETAH
