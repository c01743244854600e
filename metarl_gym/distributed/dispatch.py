"""Run jobs on Ray workers, re-running the job of a worker that was lost, up to ``max_failures`` times.

Evaluation is idempotent (a slice's fitness depends only on its params, its start and the generation), so a
job whose worker died is simply submitted again, to whichever worker is free first; the lost worker is
replaced by a fresh one. Results come back in job order whatever the order of completion. An exception raised
by the job's own code (a bad config, a bug) is not a lost worker: it would fail again, so it is raised at once.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

import ray
import ray.exceptions as rex

from ..errors import UserError
from .errors import WorkerFailureError


def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    names = (
        "RayActorError",  # ActorDiedError, ActorUnavailableError
        "WorkerCrashedError",
        "NodeDiedError",
        "LocalRayletDiedError",
        "ObjectLostError",  # also OwnerDiedError, ObjectReconstructionFailedError
        "OutOfMemoryError",  # Ray's memory monitor killed the worker
    )
    return tuple(getattr(rex, n) for n in names if hasattr(rex, n))


LOST_WORKER_ERRORS = _lost_worker_errors()
"""Ray exceptions meaning "the worker (process or node) went away", as opposed to an error in the job."""


def run_jobs(
    jobs: list[Any],
    slots: list[Any],
    submit: Callable[[Any, Any], "ray.ObjectRef"],
    replace: Callable[[Any], Any],
    max_failures: int,
    what: str = "job",
    hint: str = "",
) -> tuple[list[Any], int]:
    """Results of ``submit(slot, job)`` for every job, in job order, and the number of lost workers.

    Args:
        jobs: the jobs (any objects ``submit`` understands).
        slots: one entry per worker (an actor handle, or a token for plain tasks); each runs one job at a time.
        submit: ``submit(slot, job) -> ObjectRef``.
        replace: ``replace(slot) -> slot`` called when ``slot``'s worker was lost (kill it, start a new one).
        max_failures: lost workers tolerated; one more raises :class:`WorkerFailureError`.
        what: the job's name in error messages ("slice", "trial").
        hint: appended to the error message (what to do next).

    Raises:
        WorkerFailureError: after ``max_failures + 1`` lost workers (nothing is returned partially).
        Exception: the job's own exception, unchanged, if its code raised one.
    """
    pending = deque(range(len(jobs)))
    idle = deque(slots)
    running: dict[Any, tuple[Any, int]] = {}
    results: list[Any] = [None] * len(jobs)
    failures = 0
    while pending or running:
        while pending and idle:
            slot, index = idle.popleft(), pending.popleft()
            running[submit(slot, jobs[index])] = (slot, index)
        [ref], _ = ray.wait(list(running), num_returns=1)
        slot, index = running.pop(ref)
        try:
            results[index] = ray.get(ref)
        except LOST_WORKER_ERRORS as error:
            if isinstance(error, rex.RayActorError) and error.actor_init_failed:
                raise UserError(f"a Ray worker failed to start: {error}") from error
            failures += 1
            if failures > max_failures:
                first_line = str(error).splitlines()[0] if str(error) else ""
                raise WorkerFailureError(
                    f"{failures} Ray workers were lost while running {len(jobs)} {what}s, more than "
                    f"distributed.max_failures={max_failures} (last: {type(error).__name__}: {first_line}). {hint}"
                ) from error
            pending.appendleft(index)  # re-run it first, on whichever worker is free
            idle.append(replace(slot))
        else:
            idle.append(slot)
    return results, failures


__all__ = ["LOST_WORKER_ERRORS", "WorkerFailureError", "run_jobs"]
