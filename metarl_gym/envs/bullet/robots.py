"""The robots of the pybullet locomotion envs and the Ant's damaged morphologies.

A :class:`RobotSpec` holds what pybullet_envs' ``robot_locomotors.py`` hard-codes per robot: the MJCF file in
``pybullet_data/mjcf``, the motor power and per-joint power coefficients, the links whose ground contact is
observed, and the "alive" rule. The damaged Ant morphologies of the Hebbian seed (Najarro & Risi 2020,
``damaged_bullet_morphologies/ant_asym_*.xml``) are generated at run time from pybullet_data's own ``ant.xml``
(:func:`robot_xml_path`); no copy of an XML file is shipped.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pybullet_data

OBS_CLIP = 5.0
"""Observations are clipped to [-5, 5] (pybullet_envs' calc_state), which are also the space's bounds."""

ANKLE_SCALE = 0.25
"""A damaged ankle capsule keeps this fraction of its length: ``fromto`` end 0.4 -> 0.1, as the seed's XMLs."""

DAMAGED_ANKLES = {
    "damaged_left": ("front_left_leg", "front_left_foot"),
    "damaged_right": ("right_back_leg", "right_back_foot"),
}
"""morphology -> (leg body, foot body whose capsule is the shortened ankle), named as in pybullet's ant.xml.

``damaged_left`` is the seed's ``ant_asym_left.xml`` (the leg at +x, +y); ``damaged_right`` is
``ant_asym_right.xml`` (the leg at +x, -y, named ``right_back_leg`` in the XML but in front when walking
toward +x). The Hebbian paper holds ``damaged_left`` out of training.
"""

HELD_OUT_MORPHOLOGY = "damaged_left"
"""The damaged leg kept out of training (MetaRL/AntBulletDamaged-v0)."""


def _ant_alive(z: float, pitch: float, feet_contact: np.ndarray) -> float:
    # pybullet_envs Ant.alive_bonus: 0.25 is the torso sphere's radius; below 0.26 it scrapes the ground.
    return 1.0 if z > 0.26 else -1.0


def _half_cheetah_alive(z: float, pitch: float, feet_contact: np.ndarray) -> float:
    # pybullet_envs HalfCheetah.alive_bonus: no thigh or shin on the ground, and not flipped.
    knees = feet_contact[1] or feet_contact[2] or feet_contact[4] or feet_contact[5]
    return 1.0 if abs(pitch) < 1.0 and not knees else -1.0


@dataclass(frozen=True)
class RobotSpec:
    """One robot of pybullet_envs' ``robot_locomotors.py``.

    Attributes:
        name: short name ("ant", "half_cheetah").
        xml: MJCF file in ``pybullet_data/mjcf``.
        action_dim: number of motors (the non-fixed joints, in XML order).
        obs_dim: 8 + 2 * action_dim + len(foot_list).
        power: torque scale; a joint's torque is ``power * power_coef * clip(a, -1, 1)``.
        power_coefs: per-joint power coefficients (pybullet_envs' default is 100 for every motor).
        foot_list: links whose contact with the floor is observed (and, for the cheetah, judged).
        alive: ``alive(z, pitch, feet_contact) -> +1 or -1``.
        terminates: whether ``alive < 0`` ends the episode (the Ant: yes; HalfCheetah: never).
        morphologies: morphology names this robot accepts.
    """

    name: str
    xml: str
    action_dim: int
    obs_dim: int
    power: float
    foot_list: tuple[str, ...]
    alive: Callable[[float, float, np.ndarray], float]
    terminates: bool
    power_coefs: dict[str, float] = field(default_factory=dict)
    morphologies: tuple[str, ...] = ("standard",)


ANT = RobotSpec(
    name="ant",
    xml="ant.xml",
    action_dim=8,
    obs_dim=28,
    power=2.5,
    foot_list=("front_left_foot", "front_right_foot", "left_back_foot", "right_back_foot"),
    alive=_ant_alive,
    terminates=True,
    morphologies=("standard", *DAMAGED_ANKLES),
)

HALF_CHEETAH = RobotSpec(
    name="half_cheetah",
    xml="half_cheetah.xml",
    action_dim=6,
    obs_dim=26,
    power=0.90,
    foot_list=("ffoot", "fshin", "fthigh", "bfoot", "bshin", "bthigh"),
    alive=_half_cheetah_alive,
    terminates=False,
    power_coefs={"bthigh": 120.0, "bshin": 90.0, "bfoot": 60.0, "fthigh": 140.0, "fshin": 60.0, "ffoot": 30.0},
)


def check_morphology(robot: RobotSpec, morphology: str) -> str:
    """Return ``morphology`` or raise a ValueError listing the ones ``robot`` has."""
    if morphology not in robot.morphologies:
        raise ValueError(f"unknown morphology {morphology!r} for the {robot.name}; use one of {list(robot.morphologies)}")
    return morphology


def robot_xml_path(robot: RobotSpec, morphology: str = "standard", cache_dir: str | None = None) -> str:
    """Path of the MJCF file of ``robot`` with ``morphology``.

    ``"standard"`` is pybullet_data's own file. A damaged Ant is generated from it: the ``fromto`` end point of
    the ankle capsule is moved to ``ANKLE_SCALE`` of its length (0.4 -> 0.1) and the file is written, once, to
    ``cache_dir`` (default ``$METARL_GYM_CACHE`` or ``<tempdir>/metarl_gym_bullet``) under a name holding the
    hash of its content, so concurrent processes agree on it.
    """
    check_morphology(robot, morphology)
    source = os.path.join(pybullet_data.getDataPath(), "mjcf", robot.xml)
    if morphology == "standard":
        return source
    key = (robot.xml, morphology, cache_dir)
    if key in _GENERATED and os.path.exists(_GENERATED[key]):
        return _GENERATED[key]
    leg_name, foot_name = DAMAGED_ANKLES[morphology]
    tree = ET.parse(source)
    leg = tree.getroot().find(f".//body[@name='{leg_name}']")
    foot = leg.find(f".//body[@name='{foot_name}']") if leg is not None else None
    if foot is None or foot.find("geom") is None:
        raise RuntimeError(f"{source} has no body {foot_name!r} under {leg_name!r}; pybullet_data's ant.xml changed")
    geom = foot.find("geom")
    start_end = np.array([float(v) for v in geom.get("fromto").split()])
    start, end = start_end[:3], start_end[3:]
    if not np.allclose(np.abs(end - start)[:2], 0.4):
        raise RuntimeError(f"expected a 0.4 ankle in {source}, got fromto={geom.get('fromto')!r}")
    end = start + ANKLE_SCALE * (end - start)
    geom.set("fromto", " ".join(f"{v:.4g}" for v in (*start, *end)))
    text = ET.tostring(tree.getroot(), encoding="unicode")
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    cache_dir = cache_dir or os.environ.get("METARL_GYM_CACHE") or os.path.join(tempfile.gettempdir(), "metarl_gym_bullet")
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"ant_{morphology}_{digest}.xml")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".xml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    _GENERATED[key] = path
    return path


_GENERATED: dict[tuple, str] = {}
"""(xml, morphology, cache_dir) -> path of a file generated by this process (skips re-parsing on reloads)."""
