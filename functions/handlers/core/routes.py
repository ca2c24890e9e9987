"""The HTTP routes of DESIGN §4 and the handler module behind each.

The CDK stack and the local stack both build their routing from this table: one route (and
one Lambda) per task of the registry, in functions/handlers/<task with underscores>.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.registry import TASKS


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    # The module in functions/handlers whose ``handler`` serves the route.
    module: str
    task: str | None = None


def _task(task: str) -> Route:
    return Route("POST", f"/v1/{task}", task.replace("-", "_"), task)


ROUTES: tuple[Route, ...] = (
    *(_task(task) for task in TASKS),
    Route("POST", "/v1/uploads", "uploads"),
    Route("GET", "/v1/jobs/{id}", "jobs"),
    Route("GET", "/v1/models", "models"),
)

# Handlers that no route serves: the state machine's steps and the upload trigger.
WORKERS: tuple[str, ...] = ("publish", "fail", "trigger")
