"""SQS batches of S3 upload notifications -> one job per object, with partial batch failures."""

from typing import Any

from core.triggers import handle_batch


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_batch(event, context)
