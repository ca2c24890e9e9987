"""State machine Catch: record an async job's error as its FAILED manifest."""

from typing import Any

from core.workflow import fail
from imagegen.logs import log_context


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with log_context(requestId=getattr(context, "aws_request_id", None), jobId=event.get("jobId")):
        return fail(event["jobId"], event.get("error"))
