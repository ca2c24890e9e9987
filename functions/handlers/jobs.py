"""GET /v1/jobs/{id}: a job's status and results (sync, async or triggered)."""

from core.api import get_job as handler

__all__ = ["handler"]
