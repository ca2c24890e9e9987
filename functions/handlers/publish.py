"""State machine step: an async job's model responses -> images and manifest."""

from typing import Any

from core.workflow import publish
from imagegen.logs import log_context


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with log_context(requestId=getattr(context, "aws_request_id", None), jobId=event.get("jobId")):
        return publish(event["jobId"])
