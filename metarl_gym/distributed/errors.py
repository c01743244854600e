"""The distributed evaluator's error (importable without Ray)."""

from ..errors import UserError


class WorkerFailureError(UserError):
    """More Ray workers were lost during one generation (one ``ray_map`` call) than ``distributed.max_failures``."""
