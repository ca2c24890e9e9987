"""State machine Catch: record an async job's error as its FAILED manifest."""

from typing import Any

from core.workflow import fail


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return fail(event["jobId"], event.get("error"))
