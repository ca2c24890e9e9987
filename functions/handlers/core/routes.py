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
    # What the function is (its settings, memory and timeout in core.topology); the module by default.
    role: str | None = None
    # Served without an API key (the OpenAPI document, the playground page).
    public: bool = False

    @property
    def kind(self) -> str:
        return self.role or ("task" if self.task else self.module)


def _task(task: str) -> Route:
    return Route("POST", f"/v1/{task}", task.replace("-", "_"), task)


ROUTES: tuple[Route, ...] = (
    *(_task(task) for task in TASKS),
    Route("POST", "/v1/uploads", "uploads"),
    Route("GET", "/v1/jobs/{id}", "jobs"),
    Route("GET", "/v1/models", "models"),
    Route("GET", "/v1/usage", "usage"),
    # The content credentials (C2PA) of an image: this service's outputs, or anyone's.
    Route("POST", "/v1/verify", "verify"),
    # The OpenAI Images API over the same tasks.
    Route("POST", "/v1/images/generations", "images_generations", role="openai"),
    Route("POST", "/v1/images/edits", "images_edits", role="openai"),
    Route("POST", "/v1/images/variations", "images_variations", role="openai"),
    Route("GET", "/v1/openapi.json", "openapi", public=True),
    Route("GET", "/v1/playground", "playground", public=True),
)

# Handlers that no route serves: the state machine's steps, the upload trigger, the API key
# authorizer, the webhook delivery.
WORKERS: tuple[str, ...] = ("publish", "fail", "trigger", "authorizer", "webhook_delivery")
