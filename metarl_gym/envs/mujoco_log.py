"""MuJoCo's process-wide settings: warnings as Python warnings, not lines appended to ``MUJOCO_LOG.TXT`` in the
working directory, and off-screen rendering where there is no display.

MuJoCo's default warning handler writes every warning (HalfCheetah-v5 under MuJoCo 3.3+: "compiler attribute
'settotalmass' is deprecated") to ``MUJOCO_LOG.TXT`` in the current directory, so a run left that file wherever it
was started. :func:`route_mujoco_warnings` installs a handler that raises a :class:`MujocoWarning` instead (shown
once per message by Python's default filter); :func:`metarl_gym.envs.make` calls it before building a MuJoCo id.
MuJoCo is imported only then. :func:`render_offscreen_without_display` picks EGL before that import when frames are
asked for on a machine without a display.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["MujocoWarning", "is_mujoco_spec", "render_offscreen_without_display", "route_mujoco_warnings"]


class MujocoWarning(RuntimeWarning):
    """A warning MuJoCo raised while compiling or stepping a model."""


def _warn(message: str) -> None:
    warnings.warn(f"MuJoCo: {' '.join(str(message).split())}", MujocoWarning, stacklevel=2)


def is_mujoco_spec(spec) -> bool:
    """Whether a Gymnasium ``EnvSpec`` builds a MuJoCo env (its entry point lives in a ``mujoco`` module)."""
    entry = spec.entry_point
    module = entry.split(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "") or ""
    return "mujoco" in module.split(".")


def route_mujoco_warnings() -> bool:
    """Send MuJoCo's warnings to :mod:`warnings` (unless a handler is set already); False without MuJoCo."""
    try:
        import mujoco
    except ImportError:
        return False
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_warn)
    return True


def render_offscreen_without_display() -> None:
    """Let MuJoCo render off screen through EGL where no display is set and ``MUJOCO_GL`` is not chosen.

    MuJoCo's default OpenGL platform (GLFW) needs a display: ``metarl-gym show HalfCheetah-v5`` on a headless machine
    died with ``mujoco.FatalError``. MuJoCo reads ``MUJOCO_GL`` when it is imported, so this acts only before that
    import; a user's ``MUJOCO_GL`` wins.
    """
    if os.environ.get("MUJOCO_GL") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if "mujoco" not in sys.modules:
        os.environ["MUJOCO_GL"] = "egl"
