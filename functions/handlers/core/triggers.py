"""Upload triggers: SQS batches of S3 ``ObjectCreated`` notifications -> one job per object.

``triggers/<task>/<file>`` runs that task on the image with its defaults;
``triggers/requests/<name>.json`` holds a full request with ``"task"``. A job's id derives
from the object's bucket, key and version, so a redelivered message rewrites the same
outputs, and one whose job already succeeded is acknowledged without calling the model. Bad
input ends as the job's FAILED manifest and the message is consumed; throttling
and other transient faults are reported as batch item failures, so SQS retries only that
message and, past the redrive limit, moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from imagegen.body import parse_json
from imagegen.cost import Cost
from imagegen.errors import ImageGenError, InternalError, InvalidRequestError, PayloadTooLargeError
from imagegen.logs import add_log_context, get_logger, log_context
from imagegen.registry import API_BODY_LIMIT_BYTES, TASKS

from . import bedrock, budgets, claims, jobs, layout, provenance, storage
from .config import Settings, settings
from .jobs import Job

if TYPE_CHECKING:
    from imagegen import BuiltRequest

log = get_logger()

# A task whose first image field is a list gets a one-image list.
_LIST_FIELDS = {"images"}
# Time kept back from the function's timeout to store a job's images and manifest.
FINISH_RESERVE_SECONDS = 30


class PoisonMessage(ValueError):
    """An SQS message that is not an S3 notification; retrying cannot fix it."""


@dataclass(frozen=True)
class CreatedObject:
    bucket: str
    key: str
    version: str

    @property
    def job_id(self) -> str:
        return layout.derived_job_id(self.bucket, self.key, self.version)

    @property
    def source(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "version": self.version}


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    """Process each record; report those to retry as ``batchItemFailures``.

    Model calls are retried only while another attempt can end before the function's timeout:
    a message whose calls ran out of time is retried by SQS, never cut off mid-write.
    """
    request_id = getattr(context, "aws_request_id", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = None if remaining is None else time.monotonic() + remaining() / 1000 - FINISH_RESERVE_SECONDS
    failures = []
    for record in event.get("Records") or []:
        message_id = record.get("messageId", "")
        with log_context(requestId=request_id, messageId=message_id), bedrock.deadline(deadline):
            try:
                for created in created_objects(record):
                    with log_context(jobId=created.job_id):
                        run(created, message_id)
            except Exception as exc:
                level = {PoisonMessage: logging.ERROR, ClaimedElsewhere: logging.INFO}.get(type(exc), logging.WARNING)
                log.log(level, "message %s will be retried: %s: %s", message_id, type(exc).__name__, exc)
                failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def created_objects(record: dict[str, Any]) -> list[CreatedObject]:
    try:
        notification = json.loads(record["body"])
        if notification.get("Event") == "s3:TestEvent":
            return []
        found = []
        for entry in notification["Records"]:
            if not str(entry.get("eventName", "")).startswith("ObjectCreated:"):
                continue
            s3 = entry["s3"]
            item = s3["object"]
            version = item.get("versionId") or item.get("eTag") or item.get("sequencer")
            if not version:
                raise KeyError("versionId or eTag")
            found.append(CreatedObject(s3["bucket"]["name"], unquote_plus(item["key"]), str(version)))
        return found
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PoisonMessage(f"not an S3 event notification ({type(exc).__name__}: {exc})") from None


class ClaimedElsewhere(RuntimeError):
    """Another delivery of the same object holds the job: SQS delivers this one again later."""


def run(created: CreatedObject, holder: str = "") -> None:
    """Run the job an object asks for, paying for its model call at most once. Raises only what
    a retry may fix."""
    if created.key.endswith("/") or not created.key.startswith(layout.TRIGGERS):
        return  # a console "folder", or an object outside the trigger prefix
    config = settings()
    job_id = created.job_id
    done = storage.get_json(config.output_bucket, layout.manifest_key(job_id))
    if done and done.get("status") in ("SUCCEEDED", "FAILED") and done.get("source") == created.source:
        # SQS delivers at least once. A job that succeeded must not pay for its images again, and
        # a recorded failure is final (a filtered prompt, an invalid request): only retryable
        # faults are left to SQS, and they write no manifest.
        log.info("job %s already %s for %s; message acknowledged", job_id, done["status"], created.key)
        return
    held = claims.claim(config.output_bucket, job_id, holder)
    if held is None:
        raise ClaimedElsewhere(f"job {job_id} is being run by another delivery")
    job = reservation = None
    team, _ = layout.trigger_path(created.key)
    try:
        built = _prepare(created, config)
        add_log_context(task=built.task, model=built.model)
        job = Job.create(job_id, built, created.source, owner=team)
        # A team's folder spends the team's budget: over it, the job fails before any call.
        reservation = budgets.reserve(team, jobs.charged(job))
        parsed = jobs.generate(built, long=True)
        parsed = provenance.credential(job, parsed, provenance.inputs_of(built))
        manifest = jobs.finish(job, parsed)
        budgets.settle(reservation, jobs.charged(job))
        log.info("job %s succeeded for %s: %d images", job_id, created.key, len(manifest["images"]))
    except ImageGenError as exc:
        paid = jobs.charged(job) if job is not None and jobs.billed(exc) else None
        budgets.settle(reservation, paid or Cost.nothing(job.model if job else ""))
        if _retryable(exc):
            claims.release(held)
            raise
        jobs.record_failure(job_id, job, exc, created.source)
        log.info("job %s for %s failed: %s", job_id, created.key, exc.code)


def _prepare(created: CreatedObject, config: Settings) -> BuiltRequest:
    """The object's request, validated and built. Validation is deterministic: whatever fails in
    it would fail again on redelivery, so it is the job's failure, never the message's."""
    try:
        task, payload = trigger_request(created)
        return jobs.prepare(task, payload, config)
    except ImageGenError:
        raise
    except Exception:
        log.exception("job %s: validating %s failed", created.job_id, created.key)
        raise InternalError(f"job {created.job_id}: the request could not be validated") from None


def _retryable(error: ImageGenError) -> bool:
    """Throttling and provider or storage faults may pass; a retry cannot fix anything else."""
    return error.status == 429 or (error.status >= 500 and not isinstance(error, InternalError))


def trigger_request(created: CreatedObject) -> tuple[str, Any]:
    """The task and request body an object under ``triggers/`` stands for."""
    _, path = layout.trigger_path(created.key)
    folder, _, name = path.partition("/")
    if folder == "requests":
        return _stored_request(created)
    if folder not in TASKS or not name:
        raise InvalidRequestError.for_field(
            "key",
            f"{created.key} is not under a task folder: use triggers/[teams/<team>/]<task>/ with one of "
            f"{', '.join(TASKS)}, or triggers/[teams/<team>/]requests/<name>.json",
        )
    from imagegen.schema import trigger_field

    uri = layout.s3_uri(created.bucket, created.key)
    field = trigger_field(folder)
    return folder, {field: [uri] if field in _LIST_FIELDS else uri}


def _stored_request(created: CreatedObject) -> tuple[str, Any]:
    data = storage.get_bytes(created.bucket, created.key, API_BODY_LIMIT_BYTES)
    if data is None:
        raise InvalidRequestError.for_field("key", f"{created.key} was deleted before it could run")
    if len(data) > API_BODY_LIMIT_BYTES:
        raise PayloadTooLargeError(f"{created.key} is over {API_BODY_LIMIT_BYTES:,} bytes")
    request = parse_json(data)
    if not isinstance(request, dict):
        raise InvalidRequestError.for_field("body", "must be a JSON object")
    task = request.pop("task", None)
    if task not in TASKS:
        raise InvalidRequestError.for_field("task", f"must be one of {', '.join(TASKS)}")
    # A trigger always runs in this worker, which may wait; the API's mode does not apply.
    request.pop("mode", None)
    return task, request
