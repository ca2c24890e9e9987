"""Async jobs: hand the model calls to Step Functions, then publish or fail the result.

The state machine receives ``{"jobId", "calls": [{"modelId", "input", "output"}]}`` and runs
each call through its optimized ``bedrock:invokeModel`` task (request and response stay in
S3, so no payload limit applies), then invokes ``publish`` with ``{"jobId"}``; on an error
it invokes ``fail`` with ``{"jobId", "error": {"Error", "Cause"}}``.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from imagegen.cost import Cost
from imagegen.errors import (
    ImageGenError,
    NotFoundError,
    ThrottledError,
    UpstreamError,
    UpstreamTimeoutError,
)
from imagegen.logs import add_log_context, get_logger

from . import bedrock, budgets, clients, jobs, layout, metrics, provenance, storage
from .callers import NOBODY, Caller
from .config import settings
from .jobs import Job

if TYPE_CHECKING:
    from imagegen import BuiltRequest

log = get_logger()


def state_machine_model_id(model_id: str, state_machine_arn: str) -> str:
    """The ModelId the state machine's ``bedrock:invokeModel`` task is given.

    A cross-Region inference profile goes by its ARN, in the state machine's own partition,
    region and account: the form AWS's deployed-and-tested pattern passes
    (aws-samples/serverless-patterns, sfn-bedrock-invokemodel-cdk). Any other id as it is.
    """
    from imagegen.registry import inference_profile_model

    if model_id.startswith("arn:") or inference_profile_model(model_id) is None:
        return model_id
    _, partition, _, region, account, _ = state_machine_arn.split(":", 5)
    return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}"


def execution_arn(state_machine_arn: str, job_id: str) -> str:
    # arn:aws:states:<region>:<account>:stateMachine:<name> -> ...:execution:<name>:<job id>
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{job_id}"


def start(job: Job, built: BuiltRequest) -> Job:
    """Write each native request to S3 and start the execution named by the job id."""
    config = settings()
    if not config.state_machine_arn:
        raise RuntimeError(f"{config.env_name('state_machine_arn')} is not set: async jobs cannot run")
    bucket = config.output_bucket
    model_id = state_machine_model_id(built.model_id, config.state_machine_arn)
    calls = []
    for index, body in enumerate(built.bodies):
        request_key, response_key = layout.call_keys(job.id, index, len(built.bodies))
        storage.put_json(bucket, request_key, body)
        calls.append(
            {
                "modelId": model_id,
                "input": layout.s3_uri(bucket, request_key),
                "output": layout.s3_uri(bucket, response_key),
            }
        )
    # The input images, for the images' content credentials when publish signs them.
    inputs = provenance.keep(job.id, provenance.inputs_of(built))
    job = Job.from_dict({**job.to_dict(), "calls": calls, "inputs": inputs})
    storage.put_json(bucket, layout.job_record_key(job.id), job.to_dict())
    try:
        clients.stepfunctions().start_execution(
            stateMachineArn=config.state_machine_arn,
            name=job.id,
            input=json.dumps({"jobId": job.id, "calls": calls}),
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ThrottlingException":
            raise ThrottledError(
                "Step Functions is throttling new jobs; retry shortly", retry_after=bedrock.RETRY_AFTER_SECONDS
            ) from None
        log.warning("starting job %s failed: %s", job.id, exc)
        raise UpstreamError(f"starting job {job.id} failed: {code}") from None
    except BotoCoreError as exc:
        log.warning("starting job %s failed: %s", job.id, exc)
        raise UpstreamError(f"starting job {job.id} failed: {type(exc).__name__}") from None
    return job


def _check_job_id(job_id: object) -> None:
    # Step events come from our state machine; a malformed id means it is miswired.
    if not layout.is_job_id(job_id):
        raise ValueError(f"not a job id: {job_id!r}")


def load_job(job_id: str) -> Job | None:
    record = storage.get_json(settings().output_bucket, layout.job_record_key(job_id))
    return Job.from_dict(record) if record else None


def publish(job_id: str) -> dict[str, Any]:
    """The state machine's last step: the model responses in S3 -> images and manifest.

    A storage failure raises, so the state machine retries this step; a response that
    cannot succeed (all filtered, malformed) becomes the job's FAILED manifest.
    """
    _check_job_id(job_id)
    job = load_job(job_id)
    if job is None:
        raise RuntimeError(f"job {job_id} has no record at {layout.job_record_key(job_id)}")
    add_log_context(task=job.task, model=job.model)
    natives = []
    for call in job.calls:
        native = storage.get_json(*layout.split_s3_uri(call["output"]))
        if native is None:
            raise RuntimeError(f"job {job_id}: the model response {call['output']} is missing")
        natives.append(native)
    # Every call was answered: the model was paid for what it made, filtered or not.
    reservation = budgets.Reservation.from_dict(job.reservation)
    try:
        parsed = jobs.parse_all(job.model, natives, job.requested, job.seeds)
    except ImageGenError as exc:
        log.info("job %s failed: %s", job_id, exc.code)
        metrics.emit(job.task, job.model, metrics.model_error(exc, job.requested))
        jobs.record_failure(job_id, job, exc)
        budgets.settle(reservation, jobs.charged(job))
        return {"id": job_id, "status": "FAILED"}
    # A signing failure raises like a storage one: the state machine retries this step.
    parsed = provenance.credential(job, parsed, provenance.kept(job))
    manifest = jobs.finish(job, parsed)
    budgets.settle(reservation, jobs.charged(job))
    log.info("job %s succeeded: %d images, %d filtered", job_id, len(manifest["images"]), manifest["filtered"])
    return {"id": job_id, "status": manifest["status"]}


def fail(job_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
    """The state machine's Catch: record the error as the job's FAILED manifest."""
    _check_job_id(job_id)
    job = load_job(job_id)
    mapped = error_from_state(error or {}, job.model_id if job else "the model")
    if job is not None:
        add_log_context(task=job.task, model=job.model)
        # Step Functions made the model call: what it met is counted here.
        metrics.emit(job.task, job.model, metrics.model_error(mapped, job.requested))
    log.info("job %s failed: %s", job_id, mapped.code)
    jobs.record_failure(job_id, job, mapped)
    if job is not None:
        # A call that failed made nothing to pay for; the reservation is released.
        budgets.settle(budgets.Reservation.from_dict(job.reservation), Cost.nothing(job.model))
    return {"id": job_id, "status": "FAILED"}


def error_from_state(error: dict[str, Any], model_id: str) -> ImageGenError:
    """A Step Functions error ``{"Error", "Cause"}`` -> the code a sync request would have got."""
    name, cause = str(error.get("Error", "")), str(error.get("Cause", ""))
    # Lambda failures carry their own JSON ({"errorMessage", "errorType"}) as the cause.
    with contextlib.suppress(ValueError, AttributeError):
        cause = json.loads(cause).get("errorMessage", cause)
    if name.startswith("Bedrock."):
        region = settings().bedrock_region or None
        return bedrock.map_error(name, cause, model_id, region)
    # A step's cause is another service's text (or our own traceback): logged, not shown.
    log.warning("job step failed: %s: %s", name, cause)
    if name == "States.Timeout":
        return UpstreamTimeoutError("the job timed out (States.Timeout)")
    return UpstreamError(f"the job failed ({name or 'error'})")


def no_such_job(job_id: str) -> NotFoundError:
    return NotFoundError(f"job {job_id} not found", [{"field": "id", "message": "no job has this id"}])


def status_without_manifest(job_id: str, caller: Caller = NOBODY) -> dict[str, Any]:
    """The API's view of a job that had no manifest when it was read: its execution's state.

    ``publish`` and ``fail`` write the manifest before the execution ends, so an execution
    that has ended since the first read is read again from its manifest before anything else
    is reported: a finishing job reads RUNNING, then its outcome, never a spurious failure.
    """
    config = settings()
    if not config.state_machine_arn:
        raise no_such_job(job_id)
    try:
        execution = clients.stepfunctions().describe_execution(
            executionArn=execution_arn(config.state_machine_arn, job_id)
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ExecutionDoesNotExist":
            raise no_such_job(job_id) from None
        log.warning("reading job %s failed: %s", job_id, exc)
        raise UpstreamError(f"reading job {job_id} failed: {code or 'error'}") from None
    except BotoCoreError as exc:
        log.warning("reading job %s failed: %s", job_id, exc)
        raise UpstreamError(f"reading job {job_id} failed: {type(exc).__name__}") from None
    status = execution["status"]
    job = load_job(job_id)
    if job is not None and not caller.may_read(job.owner):
        raise no_such_job(job_id)
    if status in ("RUNNING", "PENDING_REDRIVE"):
        view = {"id": job_id, "status": "RUNNING"}
        if job is not None:
            view |= {"task": job.task, "model": job.model, "modelId": job.model_id, "requested": job.requested}
        return view
    manifest = storage.get_json(config.output_bucket, layout.manifest_key(job_id))
    if manifest is not None:
        if not caller.may_read(manifest.get("owner")):
            raise no_such_job(job_id)
        return jobs.public_view(manifest)
    if status == "SUCCEEDED":
        # publish wrote the manifest before the execution succeeded: it has expired since.
        message = "finished, but its results have expired"
        raise NotFoundError(f"job {job_id} {message}", [{"field": "id", "message": message}])
    if execution.get("error"):
        error = error_from_state({"Error": execution["error"], "Cause": execution.get("cause", "")}, "the model")
    else:
        error = UpstreamError(f"the job's execution ended {status} before it recorded a result")
    return {"id": job_id, "status": "FAILED", "error": error.body()["error"]}
