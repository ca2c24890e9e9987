"""The API's routes over the core: tasks, jobs, uploads and models."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from imagegen.cost import Cost
from imagegen.errors import ImageGenError, InvalidRequestError
from imagegen.logs import add_log_context, get_logger

from . import budgets, callers, http, idempotency, jobs, layout, metrics, provenance, storage, workflow
from .config import Settings, settings
from .jobs import Job

if TYPE_CHECKING:
    from imagegen import BuiltRequest
    from imagegen.images import Conversion

log = get_logger()

# Time kept back on the sync path for storing the images and answering.
STORE_RESERVE_SECONDS = 3.0
UPLOAD_CONTENT_TYPES = tuple(layout.EXTENSIONS)


def task_handler(task: str) -> http.Handler:
    """The Lambda handler of one task route."""

    @http.api
    def handler(event: http.Event, context: Any) -> http.Response:
        arrived = http.arrival(event, settings().sync_timeout_seconds)
        caller = callers.of_event(event)
        return idempotency.answered_once(
            event,
            context,
            lambda: run_task(task, http.json_body(event), context, http.base_url(event), arrived, caller),
            caller,
        )

    handler.__name__ = f"{task.replace('-', '_')}_handler"
    return handler


def runs_async(built: BuiltRequest, config: Settings) -> bool:
    if built.mode != "auto":
        return built.mode == "async"
    # Inline bytes were asked for: keep the request synchronous (413 if they do not fit).
    if built.response_format == "base64":
        return False
    if built.long_running:
        return True
    cost = built.cost_pixels
    return cost is not None and cost > config.async_threshold_pixels


@dataclass(frozen=True)
class Outcome:
    """A task request's result: a finished job's view, or the job that was started."""

    view: dict[str, Any]
    started: bool = False
    status_url: str = ""


def run_task(
    task: str, payload: Any, context: Any, base_url: str, arrived: float, caller: callers.Caller
) -> http.Response:
    outcome = execute(task, payload, context, base_url, arrived, caller=caller)
    if outcome.started:
        return http.response(202, outcome.view, {"Location": outcome.status_url})
    if any("base64" in image for image in outcome.view.get("images", [])):
        return http.sized_answer(200, outcome.view, stored_hint(outcome.view["id"]))
    return http.response(200, outcome.view)


def execute(
    task: str,
    payload: Any,
    context: Any,
    base_url: str,
    arrived: float,
    conversion: Conversion | None = None,
    caller: callers.Caller = callers.NOBODY,
) -> Outcome:
    """Validate, reserve the cost of the request in the caller's budget (a 402 when over), then
    start a job or run the request within the API's time and store it. Either way the job
    belongs to the caller's team, and the reservation is settled at what the calls cost.

    ``arrived`` (``http.arrival``) is when the API's timeout started counting; ``conversion``, an
    image format the caller wants that the model does not write (sync requests only).
    """
    config = settings()
    built = jobs.prepare(task, payload, config)
    if built.mode == "async" and built.response_format == "base64":
        raise InvalidRequestError.for_field(
            "responseFormat", "base64 is only available for synchronous results; async jobs return URLs"
        )
    job = Job.create(layout.new_job_id(), built, owner=caller.team)
    add_log_context(jobId=job.id, task=task, model=built.model)
    # Before any model call: a job's whole cost (a fan-out's every call) is reserved up front.
    reservation = budgets.reserve(caller.team, jobs.charged(job))
    job = replace(job, reservation=reservation.to_dict() if reservation else None)
    if runs_async(built, config):
        try:
            workflow.start(job, built)
        except ImageGenError:
            budgets.settle(reservation, Cost.nothing(built.model), requests=0)
            raise
        log.info("job %s started: %s %s x%d", job.id, task, built.model, built.requested)
        status_url = f"{base_url}/v1/jobs/{job.id}"
        return Outcome({"id": job.id, "status": "RUNNING", "statusUrl": status_url}, True, status_url)

    deadline = arrived + config.sync_timeout_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        deadline = min(deadline, time.monotonic() + remaining() / 1000)
    deadline -= STORE_RESERVE_SECONDS
    called = time.monotonic()
    try:
        parsed = jobs.generate(built, deadline=deadline)
    except ImageGenError as exc:
        # A sync job that fails at the model writes no manifest: count it here.
        paid = jobs.charged(job) if jobs.billed(exc) else Cost.nothing(built.model)
        values = {metrics.JOBS_FAILED: 1} | ({metrics.ESTIMATED_COST: paid.usd} if paid.usd else {})
        metrics.emit(task, built.model, values)
        budgets.settle(reservation, paid)
        raise
    model_ms = round((time.monotonic() - called) * 1000)
    made = parsed
    if conversion is not None:
        parsed = jobs.converted(parsed, conversion)
    try:
        # Signed before it is stored: the stored and the inline images are the same bytes.
        parsed = provenance.credential(job, parsed, provenance.inputs_of(built), made)
        manifest = jobs.finish(job, parsed, {"modelMs": model_ms})
    except storage.StorageError as exc:
        failure = storage.StorageError(f"job {job.id}: {exc.message}; the job did not succeed")
        # S3 may be failing for this write too; the response tells the caller either way.
        with contextlib.suppress(storage.StorageError):
            jobs.record_failure(job.id, job, failure)
        budgets.settle(reservation, jobs.charged(job))  # the model made the images: they were paid
        raise failure from None
    budgets.settle(reservation, jobs.charged(job))
    log.info("job %s succeeded: %s %s %d images in %d ms", job.id, task, built.model, len(parsed.images), model_ms)
    inline = None
    if built.response_format == "base64":
        # Known from the images' sizes before any of them is encoded: too large is a 413 now,
        # not after building an answer that cannot be sent.
        http.check_answer_size(inline_answer_size(parsed.images), stored_hint(job.id))
        # The model's own base64, checked by the decode, goes into the answer as it came.
        inline = parsed.encoded if len(parsed.encoded) == len(parsed.images) else parsed.images
    return Outcome(jobs.public_view(manifest, inline=inline))


def stored_hint(job_id: str) -> str:
    return f"the images are stored: GET /v1/jobs/{job_id}, or ask for image URLs"


def inline_answer_size(images: list[bytes]) -> int:
    """The least size of an answer that carries ``images`` as base64 (their encoding alone)."""
    return sum(4 * -(-len(data) // 3) for data in images)


@http.api
def get_job(event: http.Event, context: Any) -> http.Response:
    job_id = (event.get("pathParameters") or {}).get("id")
    if not layout.is_job_id(job_id):
        raise InvalidRequestError.for_field("id", "must be a job id: 32 lowercase hex digits")
    caller = callers.of_event(event)
    manifest = storage.get_json(settings().output_bucket, layout.manifest_key(job_id))
    if manifest is None:
        return http.response(200, workflow.status_without_manifest(job_id, caller))
    if not caller.may_read(manifest.get("owner")):
        # Another team's job is, to this caller, a job that does not exist.
        raise workflow.no_such_job(job_id)
    return http.response(200, jobs.public_view(manifest))


@http.api
def create_upload(event: http.Event, context: Any) -> http.Response:
    """A presigned POST for one input image: its policy fixes the key, the content type and
    the largest size any model this deployment serves accepts."""
    from imagegen.registry import largest_input_bytes

    body = http.json_body(event)
    if not isinstance(body, dict):
        raise InvalidRequestError.for_field("body", "must be a JSON object")
    unknown = sorted(set(body) - {"contentType"})
    if unknown:
        raise InvalidRequestError.from_details(
            [{"field": name or "body", "message": f"unknown field {name!r}"} for name in unknown]
        )
    content_type = body.get("contentType")
    if content_type not in UPLOAD_CONTENT_TYPES:
        raise InvalidRequestError.for_field("contentType", f"must be one of {', '.join(UPLOAD_CONTENT_TYPES)}")
    config = settings()
    key = layout.upload_key(content_type)
    max_bytes = largest_input_bytes(config.enabled_models)
    post = storage.presign_post(config.input_bucket, key, content_type, max_bytes, config.upload_ttl_seconds)
    return http.response(
        200,
        {
            "uploadUrl": post["url"],
            # Send every field, then the file last, as multipart/form-data.
            "fields": post["fields"],
            "s3Uri": layout.s3_uri(config.input_bucket, key),
            "expiresIn": config.upload_ttl_seconds,
            "maxBytes": max_bytes,
        },
    )


@http.api
def get_usage(event: http.Event, context: Any) -> http.Response:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (the last 30 days by default), for the caller's team."""
    from datetime import UTC, date, datetime, timedelta

    caller = callers.of_event(event)
    if caller.team is None or not settings().spend_table:
        raise InvalidRequestError.for_field("x-api-key", "usage is counted per API key: call with a key")
    query = event.get("queryStringParameters") or {}
    today = datetime.now(UTC).date()
    days: dict[str, date] = {}
    for name, default in (("from", today - timedelta(days=29)), ("to", today)):
        raw = query.get(name)
        try:
            days[name] = date.fromisoformat(raw) if raw is not None else default
        except (TypeError, ValueError):
            raise InvalidRequestError.for_field(name, "must be a date: YYYY-MM-DD") from None
    return http.response(200, budgets.usage(caller.team, days["from"], days["to"]))


@http.api
def verify_image(event: http.Event, context: Any) -> http.Response:
    """What an image's content credentials say and whether they hold (core/provenance.py): the
    image as JSON (base64 or an upload's s3:// URI) or as the ``image`` file of a form."""
    if http.is_form(event):
        return http.response(
            200, provenance.verify_form(http.raw_body(event), http.header(event, "Content-Type") or "")
        )
    return http.response(200, provenance.verify(http.json_body(event)))


@http.api
def list_models(event: http.Event, context: Any) -> http.Response:
    """The served models with their limits and lifecycle, each task's default, and the same
    models (with the OpenAI names clients send) as OpenAI's model list, which OpenAI's SDK and
    the chat UIs' model pickers read."""
    from imagegen.registry import default_model, describe_models

    config = settings()
    served = set(config.served_models)
    models = [model for model in describe_models(config.model_ids) if model["name"] in served]
    # The model each task's requests get when they name none.
    defaults = {task: default_model(task, config.default_models) for task in sorted(config.served_tasks)}
    return http.response(
        200, {"object": "list", "data": openai_model_list(models, config), "models": models, "defaults": defaults}
    )


# Who makes each family of models, as OpenAI's list says who owns a model.
_OWNERS = {"nova": "amazon", "titan": "amazon", "stability": "stability.ai", "gemini": "google", "imagen": "google"}


def openai_model_list(models: list[dict[str, Any]], config: Settings) -> list[dict[str, Any]]:
    """``{id, object: "model", created, owned_by}`` for each served model and OpenAI name."""
    from datetime import UTC, datetime

    from imagegen.registry import MODELS

    def created(name: str) -> int:
        launched = MODELS[name].lifecycle.launched
        return int(datetime(launched.year, launched.month, launched.day, tzinfo=UTC).timestamp()) if launched else 0

    listed = [
        {"id": model["name"], "object": "model", "created": created(model["name"]),
         "owned_by": _OWNERS.get(MODELS[model["name"]].family, "serverless-imagegen")}
        for model in models
    ]  # fmt: skip
    listed += [
        {"id": alias, "object": "model", "created": 0, "owned_by": "serverless-imagegen"}
        for alias in config.openai_aliases
        if alias not in MODELS
    ]
    return listed
