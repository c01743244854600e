"""The distributed config section and the slice layout (no Ray needed)."""

import pytest

from metarl_gym.distributed import DEFAULTS, resolve_distributed, slice_bounds, slice_size_for
from metarl_gym.errors import UserError


def test_defaults_fill_every_key():
    assert resolve_distributed(None) == DEFAULTS
    assert resolve_distributed({"backend": "ray", "num_workers": 4})["num_workers"] == 4


@pytest.mark.parametrize(
    "section, key",
    [
        ({"backend": "dask"}, "distributed.backend"),
        ({"num_workers": 0}, "distributed.num_workers"),
        ({"num_workers": True}, "distributed.num_workers"),
        ({"num_cpus_per_worker": 0}, "distributed.num_cpus_per_worker"),
        ({"num_gpus_per_worker": -1}, "distributed.num_gpus_per_worker"),
        ({"max_failures": -1}, "distributed.max_failures"),
        ({"slice_size": 0}, "distributed.slice_size"),
        ({"address": ""}, "distributed.address"),
        ({"workers": 2}, "distributed.workers"),
    ],
)
def test_bad_values_name_the_key(section, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        resolve_distributed(section)


def test_slices_cover_the_population_in_order():
    assert slice_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert slice_bounds(3, 5) == [(0, 3)]
    assert slice_size_for(resolve_distributed({"backend": "ray", "num_workers": 3}), 10) == 4  # ceil(10 / 3)
    assert slice_size_for(resolve_distributed({"backend": "local", "num_workers": 3}), 10) == 10  # the runner's one rollout
    assert slice_size_for(resolve_distributed({"slice_size": 7, "num_workers": 3}), 10) == 7
