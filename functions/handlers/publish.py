"""State machine step: an async job's model responses -> images and manifest."""

from typing import Any

from core.workflow import publish


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publish(event["jobId"])
