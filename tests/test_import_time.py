"""`import metarl_gym` registers every MetaRL id without importing torch or pybullet (issue 19: the import took
1.2 s, nearly all of it torch), and the ids still build envs afterwards. Checked on ``sys.modules`` in a fresh
interpreter, not on a timing."""

from __future__ import annotations

import subprocess
import sys

import pytest

IDS = ["MetaRL/AntBullet-v0", "MetaRL/AntBulletDamaged-v0", "MetaRL/CarRacing-v0", "MetaRL/CartPole-v1",
       "MetaRL/DoublePendulum-v0", "MetaRL/HalfCheetahBullet-v0", "MetaRL/Pendulum-v0", "MetaRL/PendulumSwingup-v1",
       "MetaRL/SlimeVolley-v0"]

REGISTERED = f"""
import sys
import gymnasium as gym
import metarl_gym
light = [m for m in ("torch", "pybullet") if m in sys.modules]
assert not light, f"import metarl_gym loaded {{light}}"
ids = sorted(i for i in gym.registry if i.startswith("MetaRL/"))
assert ids == {sorted(IDS)!r}, ids
assert gym.spec("MetaRL/CartPole-v1").max_episode_steps == 500
gym.register_envs(metarl_gym)
import metarl_gym.envs as envs
from metarl_gym.envs import TORCH_ENVS
assert "torch" not in sys.modules, "metarl_gym.envs / TORCH_ENVS loaded torch"
{{body}}
"""


def _run(body: str) -> str:
    done = subprocess.run([sys.executable, "-c", REGISTERED.replace("{body}", body)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_registers_every_id_without_torch_and_the_ids_still_build():
    out = _run("""
env = gym.make_vec("MetaRL/CartPole-v1", num_envs=3, vectorization_mode="vector_entry_point")
obs, _ = env.reset(seed=0)
assert "torch" in sys.modules and tuple(obs.shape) == (3, 4), obs.shape
single = gym.make("MetaRL/Pendulum-v0")
o, _ = single.reset(seed=0)
assert o.shape == (3,) and single.spec.max_episode_steps == 2000
assert type(gym.make("MetaRL/SlimeVolley-v0").unwrapped).__name__ == "SlimeVolleySingle"
print(type(env).__name__)
""")
    assert out.strip() == "CartPole"


def test_public_names_load_on_first_use():
    _run("""
from metarl_gym.envs.make import make as builder, torch_entry_point  # the submodule first, as config code does
from metarl_gym.envs import make, CartPole, TorchVectorEnv, MaskVelocity, RESERVOIR_KEYS, pixel_wrappers
from metarl_gym.envs.carracing import CarRacing
assert make is builder and envs.make is builder, envs.make  # the function, not the submodule of the same name
assert issubclass(CartPole, TorchVectorEnv) and TORCH_ENVS["MetaRL/CartPole-v1"].load() is CartPole
assert torch_entry_point(gym.spec("MetaRL/CarRacing-v0")) is CarRacing
assert all(torch_entry_point(gym.spec(i)) is e.load() for i, e in TORCH_ENVS.items())
assert make("MetaRL/Pendulum-v0", 2).num_envs == 2
try:
    envs.NoSuchName
except AttributeError as error:
    assert "NoSuchName" in str(error)
else:
    raise AssertionError("no AttributeError")
""")


def test_envs_command_does_not_import_torch():
    _run("""
import contextlib, io
from metarl_gym.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    assert main(["envs"]) == 0
assert "torch" not in sys.modules and "pybullet" not in sys.modules
assert len(out.getvalue().splitlines()) == len(ids) and "cannot be built" not in out.getvalue(), out.getvalue()
""")


@pytest.mark.parametrize("module", ["metarl_gym.envs.registry", "metarl_gym.envs.default_spaces", "metarl_gym.envs.carracing",
                                    "metarl_gym.envs.bullet"])
def test_light_modules_do_not_import_torch(module):
    done = subprocess.run([sys.executable, "-c", f"import sys, {module}; assert 'torch' not in sys.modules"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
