"""The service's metrics, as CloudWatch embedded metric format (EMF) lines on stdout.

Lambda sends stdout to the function's log group, where CloudWatch Logs extracts the metrics:
no PutMetricData call on the request path and no extra permission. Every line has the
namespace ``ImageGen`` and is published twice: by ``Model`` and ``Task``, and without dimensions
(the service's totals, which the alarms watch). The job and request ids travel as plain
properties, so a metric's data point leads back to its log lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from imagegen.logs import current_context

if TYPE_CHECKING:
    from imagegen.errors import ImageGenError

NAMESPACE = "ImageGen"
DIMENSIONS = ("Model", "Task")
# By model and task, and the totals (an empty dimension set).
DIMENSION_SETS = [list(DIMENSIONS), []]
IMAGES_GENERATED = "ImagesGenerated"
IMAGES_FILTERED = "ImagesFiltered"
THROTTLES = "Throttles"
MODEL_LATENCY = "ModelLatency"
JOBS_FAILED = "JobsFailed"
# USD at the models' published prices (the registry's), of what the calls made.
ESTIMATED_COST = "EstimatedCostUSD"
# Images stored without content credentials while signing awaits its certificate chain (core/provenance.py).
IMAGES_UNSIGNED = "ImagesUnsigned"
UNITS = {
    IMAGES_GENERATED: "Count",
    IMAGES_FILTERED: "Count",
    THROTTLES: "Count",
    MODEL_LATENCY: "Milliseconds",
    JOBS_FAILED: "Count",
    ESTIMATED_COST: "None",
    IMAGES_UNSIGNED: "Count",
}


def emit(task: str | None, model: str | None, values: dict[str, float]) -> None:
    """Write one EMF line with ``values`` (metric name -> value) for ``model`` and ``task``.

    Lambda's JSON logging filters stdout too: "If the "level" value field is invalid or missing,
    Lambda will assign the log output the level INFO", and likewise without a valid RFC 3339
    "timestamp" (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
    At WARN or ERROR a bare EMF line would be dropped, and the alarms on these metrics would go
    blank: each line carries the function's own level (``AWS_LAMBDA_LOG_LEVEL``), which always passes.
    """
    if not values:
        return
    context = current_context()
    now = time.time()
    line = {
        "level": os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "INFO",
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "_aws": {
            "Timestamp": int(now * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": DIMENSION_SETS,
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                }
            ],
        },
        "Model": model or "unknown",
        "Task": task or "unknown",
        **{name: context[name] for name in ("jobId", "requestId") if name in context},
        **values,
    }
    # One write per line: lines of concurrent threads never interleave.
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def failed(task: str | None, model: str | None, error: ImageGenError, requested: int = 0) -> None:
    """A job that ended without images, with what ended it."""
    values: dict[str, float] = {JOBS_FAILED: 1}
    values |= model_error(error, requested)
    emit(task, model, values)


def model_error(error: ImageGenError, requested: int) -> dict[str, float]:
    """The metrics a model's refusal stands for: a throttle, or every image filtered."""
    if error.code == "throttled":
        return {THROTTLES: 1}
    if error.code == "content_filtered":
        return {IMAGES_FILTERED: max(requested, 1)}
    return {}
