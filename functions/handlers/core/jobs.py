"""A job from start to manifest: call the model, store the images, then write the manifest.

The manifest is always the last object a job writes, so a job is never reported SUCCEEDED
before every image it lists is stored. Sync requests, async jobs (whose model calls Step
Functions makes) and triggered jobs all finish through ``finish``.
"""

from __future__ import annotations

import base64
import contextvars
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from imagegen.errors import ImageGenError, UnsupportedError, UpstreamTimeoutError
from imagegen.images import image_size
from imagegen.logs import get_logger

from . import bedrock, clients, layout, metrics, storage, webhooks
from .config import Settings, settings

if TYPE_CHECKING:
    from imagegen import BuiltRequest, ParsedResponse
    from imagegen.cost import Cost
    from imagegen.images import Conversion

log = get_logger()

# Threads for a fan-out's model calls and a job's image writes: each one waits on the network.
POOL_THREADS = 16


@cache
def _pool() -> ThreadPoolExecutor:
    """One pool per container: a request reuses its threads rather than starting its own."""
    return ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="imagegen")


def _submit(function: Any, *args: Any) -> Future:
    # In a copy of this context: the thread's log lines keep the request's fields.
    return _pool().submit(contextvars.copy_context().run, function, *args)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Job:
    """What a job is, as recorded before its model calls (``jobs/<id>/job.json`` when async)."""

    id: str
    task: str
    model: str
    model_id: str
    requested: int
    # The seed each model call uses (None: the model picks one and reports it).
    seeds: list[int | None]
    parameters: dict[str, Any]
    warnings: list[str]
    created_at: str = field(default_factory=now)
    source: dict[str, str] | None = None
    # Async only: the model calls Step Functions makes, as {modelId, input, output} S3 URIs.
    calls: list[dict[str, str]] = field(default_factory=list)
    # Async only: the input images kept for the images' content credentials, as {field, s3Uri,
    # contentType} (core/provenance.py).
    inputs: list[dict[str, str]] = field(default_factory=list)
    # The team whose key started the job (None: the deployment's, a trigger's): only it reads it.
    owner: str | None = None
    # What the job costs once its calls are answered ({usd, model, images}), and what of its
    # team's budget it reserved ({team, month, usd}; core/budgets.py).
    cost: dict[str, Any] | None = None
    reservation: dict[str, Any] | None = None
    # Where to POST the job's outcome when it ends ({url, events}; core/webhooks.py).
    webhook: dict[str, Any] | None = None

    @classmethod
    def create(
        cls, job_id: str, built: BuiltRequest, source: dict[str, str] | None = None, owner: str | None = None
    ) -> Job:
        from imagegen.cost import estimate

        return cls(
            id=job_id,
            task=built.task,
            model=built.model,
            model_id=built.model_id,
            requested=built.requested,
            seeds=built.seeds,
            parameters=built.parameters(),
            warnings=list(built.warnings),
            source=source,
            owner=owner,
            cost=estimate(built).as_dict(),
            webhook=webhooks.requested(built.request),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(**data)


# --- running -----------------------------------------------------------------------------


def prepare(task: str, payload: Any, config: Settings) -> BuiltRequest:
    """Validate and build ``payload``, with its s3:// images fetched; nothing reaches a model."""
    from imagegen import build_request

    built = build_request(
        task,
        payload,
        config.model_ids,
        input_bucket=config.input_bucket or None,
        default_models=config.default_models,
    )
    if config.enabled_models and built.model not in config.enabled_models:
        raise not_enabled(task, built.model, config)
    webhooks.check_request(built.request, config)
    if built.s3_refs:
        built = built.resolve(storage.fetch_inputs(built.s3_refs, built.spec.max_input_bytes))
    log.debug("%s %s prompt=%r", task, built.model, getattr(built.request, "prompt", None))
    return built


def not_enabled(task: str, model: str, config: Settings) -> UnsupportedError:
    """A request for a model this deployment does not serve: what it serves for the task instead."""
    from imagegen.registry import MODELS

    serving = [name for name in config.enabled_models if task in MODELS[name].tasks]
    message = f"{model} is not enabled in this deployment; for {task} it serves: {', '.join(serving) or 'none'}"
    successor = MODELS[model].lifecycle.successor
    if successor:
        message += f" ({model}'s published successor is {successor})"
    return UnsupportedError.for_field("model", message)


def generate(built: BuiltRequest, *, long: bool = False, deadline: float | None = None) -> ParsedResponse:
    """Make the model call(s) of ``built`` (a fan-out runs concurrently) and parse the results.

    ``deadline`` (a ``time.monotonic()`` value) bounds the whole call on the sync path: past
    it the request answers 504 instead of outliving the API's integration timeout.
    """
    client = clients.bedrock(long=long)
    bodies = built.bodies
    called = time.monotonic()
    try:
        if deadline is None and len(bodies) == 1:
            natives = [bedrock.invoke(client, built.model_id, bodies[0])]
        else:
            natives = _invoke_concurrently(client, built.model_id, bodies, deadline)
        latency = {metrics.MODEL_LATENCY: round((time.monotonic() - called) * 1000)}
        parsed = parse_all(built.model, natives, built.requested, built.seeds)
    except ImageGenError as exc:
        metrics.emit(built.task, built.model, metrics.model_error(exc, built.requested))
        raise
    metrics.emit(built.task, built.model, latency)
    return parsed


def _invoke_concurrently(client: Any, model_id: str, bodies: list[dict], deadline: float | None) -> list[dict]:
    futures = [_submit(bedrock.invoke, client, model_id, body) for body in bodies]
    timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
    done, pending = wait(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
    # Never wait for a call past the deadline or after a failure: a call not started is
    # cancelled, one under way finishes (or times out) on its own.
    for future in pending:
        future.cancel()
    for future in done:
        if future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
    if pending:
        raise UpstreamTimeoutError(f"{model_id}: {bedrock.TIMEOUT_HINT}")
    return [future.result() for future in futures]


def parse_all(
    model: str, natives: Sequence[dict[str, Any]], requested: int, call_seeds: Sequence[int | None]
) -> ParsedResponse:
    """Parse one response, or the responses of a fan-out (each of which may be filtered).

    An image whose response does not report its seed gets the seed its call was made with.
    """
    from imagegen.parsers import combine, filtered_error, parse_images

    per_call = requested if len(natives) == 1 else max(requested // len(natives), 1)
    parts = []
    for native, call_seed in zip(natives, call_seeds, strict=True):
        part = parse_images(model, native, per_call)
        parts.append(replace(part, seeds=[call_seed if seed is None else seed for seed in part.seeds]))
    result = parts[0] if len(parts) == 1 else combine(parts, requested)
    if not result.images:
        raise filtered_error(model, result)
    return result


def converted(parsed: ParsedResponse, conversion: Conversion) -> ParsedResponse:
    """The images in the format the caller asked for, where the model wrote another."""
    from imagegen.images import convert_image

    if all(mime == conversion.mime_type for mime in parsed.mime_types):
        return parsed
    images = [
        data if mime == conversion.mime_type else convert_image(data, conversion)
        for data, mime in zip(parsed.images, parsed.mime_types, strict=True)
    ]
    note = f"converted by this service to {conversion.mime_type} (the model writes {parsed.mime_types[0]})"
    return replace(
        parsed,
        images=images,
        mime_types=[conversion.mime_type] * len(images),
        warnings=[*parsed.warnings, note],
        encoded=[],  # the model's base64 is of the images before
    )


def charged(job: Job) -> Cost:
    """What the job's calls cost once answered (filtered or not)."""
    from imagegen.cost import Cost

    return Cost(**job.cost) if job.cost else Cost.nothing(job.model)


def finish(job: Job, parsed: ParsedResponse, timings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store every image, then the manifest; return the manifest."""
    bucket = settings().output_bucket
    images = []
    writes = []
    for index, (data, mime) in enumerate(zip(parsed.images, parsed.mime_types, strict=True)):
        width, height = image_size(data)  # reads the header only
        key = layout.image_key(job.id, index, mime)
        seed = parsed.seeds[index]
        metadata = {"job-id": job.id, "model": job.model_id, "seed": "" if seed is None else str(seed)}
        writes.append((bucket, key, data, mime, metadata))
        images.append(
            {
                "s3Uri": layout.s3_uri(bucket, key),
                "contentType": mime,
                "width": width,
                "height": height,
                "seed": seed,
            }
        )
    _store_all(writes)
    manifest = build_manifest(
        job, "SUCCEEDED", images=images, filtered=parsed.filtered, warnings=parsed.warnings, timings=timings
    )
    storage.put_json(bucket, layout.manifest_key(job.id), manifest)
    webhooks.job_ended(manifest)
    metrics.emit(
        job.task,
        job.model,
        {
            metrics.IMAGES_GENERATED: len(images),
            metrics.IMAGES_FILTERED: parsed.filtered,
            metrics.ESTIMATED_COST: charged(job).usd,
        },
    )
    return manifest


def _store_all(writes: list[tuple]) -> None:
    """Write the images concurrently (each write is a round trip to S3); return once every one
    is stored, or raise the first failure after all have ended."""
    if len(writes) == 1:
        storage.put_bytes(*writes[0])
        return
    futures = [_submit(storage.put_bytes, *write) for write in writes]
    wait(futures)
    for future in futures:
        if future.exception() is not None:
            raise future.exception()  # type: ignore[misc]


def record_failure(
    job_id: str, job: Job | None, error: ImageGenError, source: dict[str, str] | None = None
) -> dict[str, Any]:
    """Write a FAILED manifest (the job's outcome when it cannot succeed). Its cost is what the
    calls were billed: the job's when the model made images a filter then withheld, else none."""
    if job is not None:
        job = replace(job, cost=charged(job).as_dict() if billed(error) else nothing(job))
    manifest = build_manifest(job, "FAILED", error=error, job_id=job_id, source=source)
    storage.put_json(settings().output_bucket, layout.manifest_key(job_id), manifest)
    webhooks.job_ended(manifest)
    values = {metrics.JOBS_FAILED: 1}
    if job is not None and billed(error):
        values[metrics.ESTIMATED_COST] = charged(job).usd
    metrics.emit(job.task if job else None, job.model if job else None, values)
    return manifest


def billed(error: ImageGenError) -> bool:
    """Whether the model generated before the error: every image withheld by an output filter."""
    from imagegen.parsers import OutputsFilteredError

    return isinstance(error, OutputsFilteredError)


def nothing(job: Job) -> dict[str, Any]:
    return {"usd": 0.0, "model": job.model, "images": 0}


def build_manifest(
    job: Job | None,
    status: str,
    *,
    images: list[dict[str, Any]] | None = None,
    filtered: int = 0,
    warnings: Sequence[str] = (),
    error: ImageGenError | None = None,
    timings: dict[str, Any] | None = None,
    job_id: str | None = None,
    source: dict[str, str] | None = None,
) -> dict[str, Any]:
    manifest: dict[str, Any] = {"id": job.id if job else job_id, "status": status}
    if job is not None:
        manifest |= {
            "task": job.task,
            "model": job.model,
            "modelId": job.model_id,
            "images": images or [],
            "requested": job.requested,
            "filtered": filtered,
            "warnings": [*job.warnings, *(w for w in warnings if w not in job.warnings)],
            "parameters": job.parameters,
        }
        if job.cost is not None:
            manifest["cost"] = job.cost
        if job.owner is not None:
            manifest["owner"] = job.owner
        if job.webhook:
            manifest["webhook"] = webhooks.section(job.webhook, job.id, status)
    source = job.source if job is not None else source
    if source:
        manifest["source"] = source
    if error is not None:
        manifest["error"] = error.body()["error"]
    manifest["timings"] = {"createdAt": job.created_at if job else None, "finishedAt": now(), **(timings or {})}
    return manifest


# --- reading -----------------------------------------------------------------------------

# What the API shows of a manifest; parameters and timings stay in S3 for operators.
_PUBLIC_FIELDS = (
    "id", "status", "task", "model", "modelId", "images", "requested", "filtered", "warnings", "error", "cost",
)  # fmt: skip


def public_view(manifest: dict[str, Any], inline: Sequence[bytes | str] | None = None) -> dict[str, Any]:
    """The API's view of a job: each image gets a fresh presigned URL, or its bytes when
    ``inline`` (each image's bytes, or its strict base64 as the model sent it)."""
    from .http import Base64Text

    ttl = settings().presign_ttl_seconds
    view = {name: manifest[name] for name in _PUBLIC_FIELDS if name in manifest}
    if "source" in manifest:
        view["source"] = manifest["source"]
    if "webhook" in manifest:
        view["webhook"] = webhooks.shown(manifest["webhook"])
    images = []
    for index, image in enumerate(manifest.get("images", [])):
        shown = dict(image)
        if inline is not None:
            data = inline[index]
            text = data if isinstance(data, str) else base64.b64encode(data).decode("ascii")
            shown = {"base64": Base64Text(text), **shown}
        else:
            shown = {"url": storage.presign_get(*layout.split_s3_uri(image["s3Uri"]), ttl), **shown}
        images.append(shown)
    if "images" in view:
        view["images"] = images
    return view
