"""What the stack deploys, as data: read by the CDK stack (infra/) and the local stack (local/).

Keeping these facts here, beside the code that depends on them, is what stops the deployed
and the local service from drifting apart. Pure data: nothing here is imported by a handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT_SYNC_TIMEOUT_SECONDS, LONG_READ_TIMEOUT_SECONDS

# Construct ids of the two data buckets (the local stack names its buckets after them).
OUTPUT_BUCKET_ID = "Outputs"
INPUT_BUCKET_ID = "Inputs"

# The settings (core.config.Settings fields) each kind of function receives.
_ALL_TASK_SETTINGS = (
    "output_bucket", "input_bucket", "state_machine_arn", "bedrock_region", "model_ids", "enabled_models",
    "default_models", "async_threshold_pixels", "presign_ttl_seconds", "upload_ttl_seconds", "sync_timeout_seconds",
    "cors_origins", "spend_table", "idempotency_table", "webhook_queue_url", "webhook_allow_loopback",
)  # fmt: skip
FUNCTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "task": _ALL_TASK_SETTINGS,
    # Always synchronous: no state machine.
    "openai": (*(name for name in _ALL_TASK_SETTINGS if name != "state_machine_arn"), "openai_models"),
    # The caller's team decides whose jobs it reads.
    "jobs": ("output_bucket", "state_machine_arn", "presign_ttl_seconds", "cors_origins", "spend_table"),
    "usage": ("spend_table", "cors_origins"),
    "uploads": ("input_bucket", "enabled_models", "upload_ttl_seconds", "cors_origins"),
    "models": ("model_ids", "enabled_models", "default_models", "cors_origins"),
    # The document lists the task routes the enabled models give the API.
    "openapi": ("enabled_models", "cors_origins"),
    "playground": ("cors_origins",),
    "authorizer": (),
    # A job's end queues its webhook (core/webhooks.py).
    "publish": ("output_bucket", "bedrock_region", "spend_table", "webhook_queue_url"),
    "fail": ("output_bucket", "bedrock_region", "spend_table", "webhook_queue_url"),
    "trigger": (
        "output_bucket",
        "input_bucket",
        "bedrock_region",
        "model_ids",
        "enabled_models",
        "default_models",
        "spend_table",
        "webhook_queue_url",
        "webhook_allow_loopback",
    ),
    # Reads the job's manifest (its view, fresh image URLs), signs, POSTs, records the attempt.
    "webhook_delivery": (
        "output_bucket",
        "presign_ttl_seconds",
        "webhook_queue_url",
        "webhook_secret_arn",
        "webhook_allow_loopback",
    ),
}

# Content credentials (core/provenance.py): the functions that store images sign them (a KMS key,
# the certificate chain in a secret) and POST /v1/verify reads them; only these get the settings,
# the grants and the c2pa layer (infra/provenance.py).
SIGNING_SETTINGS = ("provenance", "signing_key", "certificate_secret", "timestamp_url")
SIGNING_FUNCTIONS = ("task", "openai", "publish", "trigger")
PROVENANCE_FUNCTIONS = (*SIGNING_FUNCTIONS, "verify")
FUNCTION_SETTINGS |= {kind: (*FUNCTION_SETTINGS[kind], *SIGNING_SETTINGS) for kind in SIGNING_FUNCTIONS}
# The chain's own CA is what it calls trusted; an s3:// image comes from an upload.
FUNCTION_SETTINGS["verify"] = ("input_bucket", "cors_origins", "provenance", "certificate_secret")

# glibc's malloc for every function's process: buffers of a few megabytes (images, their base64)
# come from the heap and stay there between requests instead of being mapped from and returned
# to the OS each time (page faults on every request), and threads share two arenas.
PROCESS_ENVIRONMENT = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(256 * 1024 * 1024),
    "MALLOC_ARENA_MAX": "2",
}

# Timeouts of the API's functions: a task answers within API Gateway's integration timeout.
API_FUNCTION_TIMEOUT_SECONDS: dict[str, float] = {
    "task": DEFAULT_SYNC_TIMEOUT_SECONDS,
    "openai": DEFAULT_SYNC_TIMEOUT_SECONDS,
    "openapi": 10,
    "playground": 10,
    "jobs": 10,
    "usage": 10,
    "uploads": 10,
    "models": 10,
    "verify": 10,
}

# The DynamoDB tables (infra/tables.py; the local stack and the tests make the same): partition
# and sort key, and the attribute whose epoch seconds expire a record. Powertools' idempotency
# layer keys its records by "id" and expires them by "expiration".
TABLES: dict[str, tuple[str, str | None, str]] = {
    "spend": ("pk", "sk", "expires"),
    "idempotency": ("id", None, "expiration"),
}

# Upload triggers: SQS batch size and how often a message is received before the DLQ takes it.
TRIGGER_BATCH_SIZE = 1
TRIGGER_MAX_RECEIVE_COUNT = 5
# The trigger function's timeout: one model call may take the long read timeout (300 s) and be
# retried on throttling while another attempt fits.
TRIGGER_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class RetryRule:
    """A Step Functions Retry entry."""

    errors: tuple[str, ...]
    interval_seconds: int
    backoff_rate: float
    max_attempts: int
    max_delay_seconds: int | None = None
    jitter: str = "FULL"

    def as_state_json(self) -> dict:
        rule = {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval_seconds,
            "BackoffRate": self.backoff_rate,
            "MaxAttempts": self.max_attempts,
            "JitterStrategy": self.jitter,
        }
        if self.max_delay_seconds is not None:
            rule["MaxDelaySeconds"] = self.max_delay_seconds
        return rule


# The async job: each model call's limit (as a job's own client waits), its retries on Bedrock's
# errors as Step Functions names them (never on States.Timeout: the call may have generated),
# and the publish step.
INVOKE_TIMEOUT_SECONDS = LONG_READ_TIMEOUT_SECONDS
INVOKE_RETRY = RetryRule(
    errors=(
        "Bedrock.ThrottlingException",
        "Bedrock.ServiceUnavailableException",
        "Bedrock.ModelTimeoutException",
        "Bedrock.ModelNotReadyException",
        "Bedrock.InternalServerException",
    ),
    interval_seconds=5,
    backoff_rate=2,
    max_attempts=6,
    max_delay_seconds=120,
)
# publish raises on storage faults: S3 gets a few more chances before the job fails.
PUBLISH_RETRY = RetryRule(errors=("States.TaskFailed",), interval_seconds=5, backoff_rate=2, max_attempts=3)
MAX_PARALLEL_CALLS = 5
