"""MetaRL/CarRacing-v0 against Gymnasium's CarRacing-v3 itself (box2d extra): track, rewards, dynamics, frames."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("Box2D")
from gymnasium.utils import seeding  # noqa: E402

from metarl_gym.envs.carracing.track import generate_track  # noqa: E402


def _reference(seed: int):
    env = gym.make("CarRacing-v3").unwrapped
    env.reset(seed=seed)
    return env


@pytest.mark.parametrize("seeds", [range(0, 40)])
def test_track_polygons_equal_carracing_v3(seeds):
    env = gym.make("CarRacing-v3").unwrapped
    for seed in seeds:
        env.reset(seed=seed)
        track = generate_track(seeding.np_random(seed)[0])
        np.testing.assert_array_equal(track.points, np.array(env.track))
        ours = []
        for i in range(track.num_tiles):
            ours.append((track.tiles[i], None))
            if track.border[i]:
                ours.append((track.border_polys[i], i))
        assert len(ours) == len(env.road_poly)
        for (poly, border), (ref_poly, ref_color) in zip(ours, env.road_poly):
            np.testing.assert_array_equal(poly, np.array(ref_poly))
            if border is not None:
                assert tuple(ref_color) == ((255, 255, 255) if border % 2 == 0 else (255, 0, 0))
    env.close()
