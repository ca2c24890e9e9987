"""The OpenAPI 3.1 document of every route, generated from the request models (``imagegen``),
the response models below and the route table; served at ``GET /v1/openapi.json`` and written
by ``make docs``. Nothing in it is written by hand but the descriptions."""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import (
    BudgetExceededError,
    ContentFilteredError,
    IdempotencyInProgressError,
    ImageGenError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ThrottledError,
    UnauthorizedError,
    UpstreamError,
    UpstreamTimeoutError,
)

from .openai_schema import ImagesEdit, ImagesGeneration, ImagesVariation
from .routes import ROUTES, Route

TITLE = "serverless-imagegen"
VERSION = "1.0.0"


class _Open(BaseModel):
    # Answers may gain fields; clients (and schema checks) must not break on them.
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Open):
    field: str
    message: str


class ErrorBody(_Open):
    code: str = Field(examples=["invalid_request"])
    message: str
    details: list[ErrorDetail] | None = None


class Error(_Open):
    error: ErrorBody


class Image(_Open):
    url: str | None = Field(None, description="A presigned GET of the stored image")
    base64: str | None = Field(None, description='The image itself, with "responseFormat": "base64"')
    s3Uri: str
    contentType: Literal["image/png", "image/jpeg", "image/webp"]
    width: int
    height: int
    seed: int | None = None


class WebhookDelivery(_Open):
    """The job's webhook (core/webhooks.py): what is sent, and each attempt so far."""

    id: str = Field(description="The webhook-id header: the same on every attempt")
    url: str = Field(description="The receiver, its query (a token) left out")
    events: list[Literal["completed", "failed"]]
    event: Literal["completed", "failed"]
    status: Literal["pending", "delivered", "failed", "skipped"] = Field(
        description="skipped: the job ended with an event not asked for; failed: no more attempts"
    )
    attempts: int
    lastAttemptAt: str | None = None
    lastError: str | None = None
    nextAttemptAt: str | None = None
    deliveredAt: str | None = None


class Job(_Open):
    """A job as GET /v1/jobs/{id} and the sync task routes answer it."""

    id: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED"]
    task: str | None = None
    model: str | None = None
    modelId: str | None = None
    images: list[Image] | None = None
    requested: int | None = None
    filtered: int | None = None
    warnings: list[str] | None = None
    error: ErrorBody | None = None
    webhook: WebhookDelivery | None = None


class JobStarted(_Open):
    id: str
    status: Literal["RUNNING"]
    statusUrl: str = Field(description="Absolute; follow it as it is")


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contentType: Literal["image/png", "image/jpeg", "image/webp"]


class Upload(_Open):
    uploadUrl: str
    fields: dict[str, str] = Field(description="Send every field, then the file as `file`, as multipart/form-data")
    s3Uri: str
    expiresIn: int
    maxBytes: int


class OpenAIModel(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class Models(_Open):
    """The served models, and the same as OpenAI's model list (with the OpenAI names clients send)."""

    object: Literal["list"]
    data: list[OpenAIModel]
    models: list[dict[str, Any]]
    defaults: dict[str, str] = Field(description="Each served task's model for requests that name none")


class UsageCounts(_Open):
    requests: int
    images: int
    usd: float


class UsageDay(UsageCounts):
    date: str


class UsageModel(UsageCounts):
    model: str


class UsageMonth(_Open):
    month: str
    spentUsd: float
    committedUsd: float = Field(description="Spent, and reserved by requests not yet answered")
    budgetUsd: float | None = Field(None, description="The team's monthly budget; none: no budget")
    resetsAt: str


class Usage(_Open):
    """The calling key's team: requests, images and USD at published prices, per day and model."""

    team: str
    days: list[UsageDay]
    models: list[UsageModel]
    month: UsageMonth


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = Field(description="The image: base64, a data: URL, or an upload's s3:// URI (POST /v1/uploads)")


class VerifyForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: bytes = Field(description="The image file (PNG, JPEG or WebP), as `curl -F image=@photo.png` sends it")


class Signer(_Open):
    name: str | None = None
    organization: str | None = None
    serialNumber: str | None = None
    algorithm: str | None = None


class Ingredient(_Open):
    title: str | None = None
    relationship: str | None = Field(None, description="parentOf: the image edited; inputTo; componentOf")
    format: str | None = None
    manifest: bool = Field(description="Whether the ingredient carried content credentials of its own")
    signer: Signer | None = None
    aiGenerated: bool


class Verification(_Open):
    """What an image's content credentials (C2PA) say, and whether they hold."""

    valid: bool = Field(description="The manifest is intact and its signature holds")
    trusted: bool = Field(description="Valid, and signed under this deployment's certificate authority")
    manifest: bool = Field(description="Whether the image carries a C2PA manifest at all")
    state: str | None = Field(None, description="c2pa's validation state: Invalid, Valid or Trusted")
    reasons: list[str] = Field(description="Why it is not valid (c2pa's failure codes)")
    signer: Signer | None = None
    aiGenerated: bool = Field(description="An action of the manifest or its ingredients made AI content")
    model: str | None = None
    modelId: str | None = None
    jobId: str | None = None
    task: str | None = None
    created: str | None = None
    timestamped: bool
    claimGenerator: str | None = None
    actions: list[str]
    ingredients: list[Ingredient]


class OpenAPIDocument(_Open):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class OpenAIImage(_Open):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class OpenAIImages(_Open):
    created: int
    data: list[OpenAIImage]
    job_id: str | None = Field(None, description="The stored job: GET /v1/jobs/{id}")
    job_ids: list[str] | None = Field(None, description="Every job of the answer, when it took more than one")
    model: str | None = Field(None, description="The model that made the images")
    size: str | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    background: str | None = None
    warnings: list[str] | None = Field(None, description="Parameters ignored or adapted, and the model's notes")


class OpenAIImageEvent(_Open):
    """One image of a stream (``stream: true``), as OpenAI's SDK reads it."""

    type: Literal["image_generation.completed", "image_edit.completed"]
    b64_json: str
    created_at: int
    size: str
    quality: str
    background: str
    output_format: Literal["png", "jpeg", "webp"]
    usage: dict[str, Any]


class OpenAIErrorBody(_Open):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(_Open):
    error: OpenAIErrorBody


# What each kind of route may answer besides its successes (the error classes' statuses).
_TASK_ERRORS = (InvalidRequestError, UnauthorizedError, BudgetExceededError, IdempotencyInProgressError,
                PayloadTooLargeError, ContentFilteredError, ThrottledError, InternalError, UpstreamError,
                UpstreamTimeoutError)  # fmt: skip
_ERRORS: dict[str, tuple[type[ImageGenError], ...]] = {
    "task": _TASK_ERRORS,
    "openai": _TASK_ERRORS,
    "jobs": (InvalidRequestError, UnauthorizedError, NotFoundError, InternalError, UpstreamError),
    "uploads": (InvalidRequestError, UnauthorizedError, PayloadTooLargeError, InternalError),
    "models": (UnauthorizedError, InternalError),
    "usage": (InvalidRequestError, UnauthorizedError, InternalError, UpstreamError),
    "verify": (InvalidRequestError, UnauthorizedError, PayloadTooLargeError, InternalError, UpstreamError),
    "openapi": (),
}


def document(server: str = "/", tasks: Collection[str] | None = None) -> dict[str, Any]:
    """The document of every route, or (``tasks``) of the routes a deployment serving them has."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        if tasks is not None and route.task is not None and route.task not in tasks:
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Image generation on Amazon Bedrock: the native task API and the OpenAI Images API.",
        },
        "servers": [{"url": server}],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {"type": "http", "scheme": "bearer", "description": "The same API key"},
            },
        },
    }


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.module, "summary": f"{route.method} {route.path}"}
    if route.public:
        operation["security"] = []
    request, responses = _shapes(route)
    if request is not None:
        media, model = request
        content: dict[str, Any] = {"schema": _ref(model, schemas)}
        if route.module in _examples():
            content["example"] = _examples()[route.module]
        operation["requestBody"] = {"required": True, "content": {media: content}}
        if route.module in _FORMS_TOO:
            operation["requestBody"]["content"]["multipart/form-data"] = {
                "schema": _ref(_FORMS_TOO[route.module], schemas)
            }
    if "{id}" in route.path:
        operation["parameters"] = [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
        ]
    if route.module == "usage":
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "description": what,
             "schema": {"type": "string", "format": "date"}}
            for name, what in (("from", "First day (UTC), default 29 days ago"), ("to", "Last day, default today"))
        ]  # fmt: skip
    operation["responses"] = {
        str(status): {"description": description, "content": _content(model, schemas)}
        for status, (description, model) in responses.items()
    }
    if route.module in _STREAMED:
        # Each server-sent event (with stream: true): `event` names it, `data` is its JSON.
        operation["responses"]["200"]["content"]["text/event-stream"] = {
            "itemSchema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "pattern": r"^image_(generation|edit)\.completed$"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": _ref(OpenAIImageEvent, schemas),
                    },
                },
            }
        }
    error_model = OpenAIError if route.kind == "openai" else Error
    for error in _ERRORS.get(route.kind, ()):
        operation["responses"].setdefault(
            str(error.status),
            {"description": error.code, "content": {"application/json": {"schema": _ref(error_model, schemas)}}},
        )
    return operation


# Routes that take their JSON body's fields as a multipart form too.
_FORMS_TOO: dict[str, type[BaseModel]] = {"verify": VerifyForm}
# The routes that answer OpenAI's server-sent events when asked to stream.
_STREAMED = ("images_generations", "images_edits")


def _content(model: type[BaseModel] | None, schemas: dict[str, Any]) -> dict[str, Any]:
    """JSON of ``model``, or (None) an HTML page."""
    if model is None:
        return {"text/html": {"schema": {"type": "string"}}}
    return {"application/json": {"schema": _ref(model, schemas)}}


def _shapes(
    route: Route,
) -> tuple[tuple[str, type[BaseModel]] | None, dict[int, tuple[str, type[BaseModel] | None]]]:
    if route.task:
        from imagegen.schema import TASK_MODELS

        return ("application/json", TASK_MODELS[route.task]), {
            200: ("The stored images", Job),
            202: ("Started as a job: poll statusUrl", JobStarted),
        }
    kinds: dict[str, Any] = {
        "images_generations": (("application/json", ImagesGeneration), {200: ("The images", OpenAIImages)}),
        "images_edits": (("multipart/form-data", ImagesEdit), {200: ("The images", OpenAIImages)}),
        "images_variations": (("multipart/form-data", ImagesVariation), {200: ("The images", OpenAIImages)}),
        "uploads": (("application/json", UploadRequest), {200: ("A presigned POST form", Upload)}),
        "jobs": (None, {200: ("The job", Job)}),
        "models": (None, {200: ("The served models", Models)}),
        "usage": (None, {200: ("The team's usage", Usage)}),
        "openapi": (None, {200: ("This document", OpenAPIDocument)}),
        "verify": (("application/json", VerifyRequest), {200: ("The image's content credentials", Verification)}),
        "playground": (None, {200: ("The browser playground, one self-contained page", None)}),
    }
    return kinds[route.module]


@cache
def _examples() -> dict[str, dict[str, Any]]:
    """A request per route (by handler module), with prompts from the models' documentation."""
    import base64

    from imagegen import samples

    image = base64.b64encode(samples.png(512, 512)).decode("ascii")
    mask = base64.b64encode(samples.centre_mask(512, 512)).decode("ascii")
    coffee = "A photograph of a cup of coffee from the side."
    return {
        "text_to_image": {"prompt": coffee},
        "color_guided": {"prompt": coffee, "colors": ["#FF6B35", "#004E89"]},
        "image_variation": {"images": [image], "prompt": "Modernize the house, photo-realistic, 8k, hdr",
                            "similarityStrength": 0.7},
        "inpainting": {"image": image, "maskImage": mask, "prompt": "Modernize the windows of the house"},
        "outpainting": {"model": "stable-outpaint", "image": image, "left": 256, "right": 256,
                        "prompt": "Draw a chocolate chip cookie"},
        "background_removal": {"image": image},
        "upscale": {"image": image},
        "search_replace": {"image": image, "searchPrompt": "the cup", "prompt": "a teapot"},
        "search_recolor": {"image": image, "selectPrompt": "the cup", "prompt": "bright red"},
        "erase_object": {"image": image, "maskImage": mask},
        "style_transfer": {"image": image, "styleImage": image},
        "uploads": {"contentType": "image/png"},
        "images_generations": {"model": "gpt-image-1", "prompt": coffee, "size": "1024x1024"},
    }  # fmt: skip


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    name = model.__name__
    if name not in schemas:
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        for nested, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(nested, definition)
        schemas[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


if __name__ == "__main__":
    import json
    import sys

    with open(sys.argv[1], "w", encoding="utf-8") as file:
        json.dump(document(), file, indent=2)
        file.write("\n")
