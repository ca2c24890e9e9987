"""One paid model call per triggered job, whatever SQS delivers.

SQS delivers at least once, and may hand one message to two workers at the same time. Before
its model call a delivery claims the job with a conditional write (S3 ``If-None-Match: *`` on
``jobs/<id>/claim.json``), which S3 lets exactly one writer win
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). The others
leave the message to SQS, which delivers it again after the visibility timeout, when the job's
manifest answers it. A claim whose holder met a retryable fault is released, so the next
delivery runs at once; one whose holder died (a timeout, a crash) is taken over once it is older
than the worker's whole run. Taking over and releasing are conditional on the claim's ETag, so
two deliveries cannot both take over one claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.logs import get_logger

from . import layout, storage
from .jobs import now
from .topology import TRIGGER_TIMEOUT_SECONDS

log = get_logger()

# A claim older than a worker can run belongs to a worker that is gone.
CLAIM_TTL_SECONDS = TRIGGER_TIMEOUT_SECONDS + 60
RUNNING, RELEASED = "running", "released"


@dataclass(frozen=True)
class Claim:
    bucket: str
    key: str
    etag: str


def claim(bucket: str, job_id: str, holder: str) -> Claim | None:
    """Claim ``job_id`` for ``holder`` (a message id); None while another delivery holds it."""
    key = layout.claim_key(job_id)
    document = {"state": RUNNING, "holder": holder, "at": now()}
    etag = storage.put_json_if(bucket, key, document, absent=True)
    if etag is not None:
        return Claim(bucket, key, etag)
    current = storage.get_json_versioned(bucket, key)
    if current is None:  # released by deletion in between: try once more from scratch
        etag = storage.put_json_if(bucket, key, document, absent=True)
        return Claim(bucket, key, etag) if etag else None
    held, held_etag, age = current
    if held.get("state") == RUNNING and age < CLAIM_TTL_SECONDS:
        log.info("job %s is claimed by %s since %s: left to SQS", job_id, held.get("holder"), held.get("at"))
        return None
    etag = storage.put_json_if(bucket, key, document, etag=held_etag)
    if etag is None:
        return None
    log.info("job %s: took over a %s claim of %s", job_id, held.get("state"), held.get("holder"))
    return Claim(bucket, key, etag)


def release(held: Claim) -> None:
    """Give the job back after a retryable fault: the next delivery claims it at once."""
    document = {"state": RELEASED, "at": now()}
    if storage.put_json_if(held.bucket, held.key, document, etag=held.etag) is None:
        log.warning("claim %s was taken over before it was released", held.key)
