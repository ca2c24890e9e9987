"""SQS batches of webhook deliveries -> a signed POST each, with partial batch failures."""

from typing import Any

from core.webhooks import handle_batch


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_batch(event, context)
