"""Connecting to Ray: a local instance on this machine when no address is given, else the named cluster."""

from __future__ import annotations

import math
from typing import Any

import ray


def init_ray(cfg: dict[str, Any]) -> bool:
    """Make sure this process is connected to Ray; True if this call started (and so owns) the connection.

    Args:
        cfg: a resolved ``distributed`` section. ``address: null`` starts a new Ray instance on this machine
            with ``ceil(num_workers * num_cpus_per_worker)`` CPUs (no dashboard); ``"auto"`` joins the cluster
            started with ``ray start --head`` on this node; ``"ray://host:10001"`` joins a remote cluster
            through Ray Client. If Ray is already initialised in this process, it is used as it is.
    """
    if ray.is_initialized():
        return False
    if cfg["address"] is None:
        kwargs: dict[str, Any] = {
            "address": "local",  # always a new instance on this machine, never a cluster found by chance
            "num_cpus": max(1, math.ceil(cfg["num_workers"] * cfg["num_cpus_per_worker"])),
            "include_dashboard": False,
        }
        if cfg["num_gpus_per_worker"] == 0:
            kwargs["num_gpus"] = 0
        ray.init(**kwargs)
    else:
        ray.init(address=cfg["address"])
    return True
