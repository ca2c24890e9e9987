"""``Idempotency-Key``: a POST that can start paid work, sent again with the same key, gets the
first request's answer instead of a second model call.

The records are Powertools for AWS Lambda's Idempotency utility over DynamoDB
(``Settings.idempotency_table``; https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/):
its conditional put makes one of two concurrent requests the one that runs, and the other
learns the first is still running (409, ``Retry-After``). A key is the caller's: its team (the
deployment, for callers without an API key), so two teams' keys never meet. The same key with
another request (method, path or body) is a 422. A record lasts 24 hours; a request that is
running holds its key only as long as its function may still run (the Lambda context's
remaining time), so a request that died with its container frees the key.

Only answers are kept (2xx: images, or the job started); an error is not, so the retry of a
400, a 402, a 429 or a 5xx runs again. An answer is kept whole (status, headers, body): a
replay is the first answer as it was, its presigned URLs included (they expire as the first
answer's did; the job id in it gets fresh ones from ``GET /v1/jobs/{id}``). A body over what
a DynamoDB item holds (inline base64 images: megabytes) goes to the output bucket, under
``outputs/answers/`` with the images' lifecycle, and the record names it: such answers are most
of what OpenAI's gpt-image clients ask for, so refusing the header with them would refuse it
where retries matter most.

Requests without the header never import Powertools: their cold start does not pay for it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from imagegen.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    ImageGenError,
    InvalidRequestError,
    UnsupportedError,
    UpstreamError,
)
from imagegen.logs import get_logger

from . import callers, clients, http, layout, storage
from .config import settings

log = get_logger()

HEADER = "Idempotency-Key"
# Stripe's name for it: tells a client (and its logs) that this answer is a replay.
REPLAYED_HEADER = "Idempotent-Replayed"
# 1-255 printable ASCII characters: a UUID, a hash, a client's own request id.
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
EXPIRES_AFTER_SECONDS = 24 * 3600
# The records' attributes as core/topology.py's TABLES["idempotency"] names them (and
# Powertools' defaults): tests/functions/test_idempotency.py holds the two together.
KEY_ATTRIBUTE = "id"
EXPIRY_ATTRIBUTE = "expiration"
# Every route's records in one key space: a key sent again to another route is a reuse (422),
# whichever Lambda function the route runs in.
KEY_PREFIX = "imagegen"
# A DynamoDB item holds 400 KB, attribute names and values together; the record's other
# attributes (key, status, hashes, expirations) take well under 1 KB: the rest is margin.
MAX_RECORD_BYTES = 350_000
# Answers too large for a record: outputs/ is where the images are, and its lifecycle (at least
# a day) outlasts the record.
ANSWERS_PREFIX = f"{layout.OUTPUTS}answers/"


def answered_once(
    event: http.Event, context: Any, answer: Callable[[], http.Response], caller: callers.Caller | None = None
) -> http.Response:
    """``answer()``, or, for a request with an ``Idempotency-Key``, the answer of the first
    request with that key: ``answer()`` runs once per key. ``caller``: the request's, when the
    handler knows it already (else read from the event, only when there is a key)."""
    key = http.header(event, HEADER)
    if key is None:
        return answer()
    if not _KEY.fullmatch(key):
        raise InvalidRequestError.for_field(HEADER, "must be 1 to 255 printable ASCII characters")
    table = settings().idempotency_table
    if not table:
        raise UnsupportedError.for_field(HEADER, "this deployment keeps no idempotency records")
    scope = _scope(caller if caller is not None else callers.of_event(event))
    return _Once(event, context, answer, scope, key, table).run()


def _scope(caller: callers.Caller) -> str:
    """Whose key space: the team's (its jobs, which any of its keys may read), else the deployment's."""
    return f"team:{caller.team}" if caller.team is not None else "deployment"


class _Once:
    def __init__(
        self, event: http.Event, context: Any, answer: Callable[[], http.Response], scope: str, key: str, table: str
    ) -> None:
        self.answer = answer
        self.table = table
        self.context = context
        # What Powertools hashes: the key (the record's id) and the request (checked on reuse).
        # The body goes in as its digest: Powertools copies and serializes what it is given, and
        # a body may be megabytes of images.
        self.data = {"key": {"scope": scope, "key": key}, "request": _fingerprint(event)}
        self.digest = hashlib.sha256(json.dumps([scope, key]).encode()).hexdigest()
        # What this request itself made (not a replay), and the error it raised.
        self.made: list[http.Response] = []
        self.failed: list[ImageGenError] = []

    def run(self) -> http.Response:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=EXPIRES_AFTER_SECONDS,
            # A key is the caller's secret; its record's id should not be a weak hash of it.
            hash_function="sha256",
        )
        config.register_lambda_context(_deadline_of(self.context))
        once = idempotent_function(
            self._answer,
            data_keyword_argument="request",
            persistence_store=_store(self.table),
            config=config,
            output_serializer=_answers()(self.digest),
            key_prefix=KEY_PREFIX,
        )
        try:
            replayed = once(request=self.data)
        except _Unstored as unstored:
            return unstored.response
        except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
            raise IdempotencyInProgressError(
                f"{HEADER}: a request with this key is still running; send it again once it has an answer"
            ) from None
        except IdempotencyValidationError:
            reused = "was sent before with a different request; use a new key for a new request"
            raise IdempotencyKeyReusedError(f"{HEADER}: {reused}", [{"field": HEADER, "message": reused}]) from None
        except IdempotencyPersistenceLayerError as exc:
            return self._without_record(exc)
        if self.made:
            return self.made[0]
        log.info("%s: the answer of an earlier request with this key was replayed", HEADER)
        return replayed

    def _answer(self, request: dict[str, Any]) -> http.Response:
        """What Powertools runs once per key: the answer, kept only when it is a success."""
        try:
            response = self.answer()
        except ImageGenError as exc:
            self.failed.append(exc)
            raise  # Powertools deletes the record: the key is free for the retry
        self.made.append(response)
        if not 200 <= response["statusCode"] < 300:
            raise _Unstored(response)
        return response

    def _without_record(self, exc: Exception) -> http.Response:
        """DynamoDB failed. Before the answer: the request is refused, as the caller asked for
        at most one run (502: a retry may find the table well). After it: the answer is sent
        anyway, since its model call is paid; a retry meets the unfinished record (409) until
        it expires with the function's time, then runs again."""
        if self.made:
            log.warning("%s: the answer was sent, but its record was not kept: %s", HEADER, exc)
            return self.made[0]
        if self.failed:
            log.warning("%s: the record of a failed request was not removed: %s", HEADER, exc)
            raise self.failed[0] from None
        log.warning("%s: the record could not be written: %s", HEADER, exc)
        raise UpstreamError(f"{HEADER}: the key's record could not be read or written; retry") from None


class _Unstored(Exception):
    """An answer that is not a success: sent, but not kept for the key."""

    def __init__(self, response: http.Response) -> None:
        super().__init__(response["statusCode"])
        self.response = response


def _fingerprint(event: http.Event) -> dict[str, Any]:
    """The request a key was first sent with: route and body (its bytes as they came)."""
    body = event.get("body") or ""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    return {
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "base64": bool(event.get("isBase64Encoded")),
        "body": hashlib.sha256(data).hexdigest(),
    }


class _Deadline:
    """A Lambda context's remaining time where the caller gave none (a direct invocation)."""

    def __init__(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._until - time.monotonic()) * 1000))


def _deadline_of(context: Any) -> Any:
    # Without it Powertools writes no in-progress expiry, and a request that died would hold its
    # key for the record's 24 hours.
    if callable(getattr(context, "get_remaining_time_in_millis", None)):
        return context
    return _Deadline(settings().sync_timeout_seconds)


_stores: dict[tuple[int, str], Any] = {}


def _store(table: str) -> Any:
    """The persistence layer over this container's DynamoDB client (``core.clients``: its endpoint
    follows ``AWS_ENDPOINT_URL_DYNAMODB``). One per client: each layer registers a handler on the
    client it is given."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    client = clients.dynamodb()
    index = (id(client), table)
    store = _stores.get(index)
    if store is None or store.client is not client:
        _stores.clear()  # a previous client's (tests, clients.reset())
        store = _stores[index] = DynamoDBPersistenceLayer(
            table_name=table, key_attr=KEY_ATTRIBUTE, expiry_attr=EXPIRY_ATTRIBUTE, boto3_client=client
        )
    return store


@cache
def _answers() -> type:
    """How an answer is kept in its record, and given back on a replay (a Powertools output
    serializer, whose base class is imported with the first key, not at cold start): whole, or,
    over ``MAX_RECORD_BYTES``, with its body in the output bucket."""
    from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

    class Answers(BaseIdempotencySerializer):
        def __init__(self, digest: str) -> None:
            self.key = f"{ANSWERS_PREFIX}{digest}"

        def to_dict(self, response: http.Response) -> dict:
            if http.encoded_size(response) <= MAX_RECORD_BYTES:
                return response
            headers = response.get("headers") or {}
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
            body = response["body"].encode("utf-8", "surrogatepass")
            storage.put_bytes(settings().output_bucket, self.key, body, content_type)
            return {**{name: value for name, value in response.items() if name != "body"}, "bodyKey": self.key}

        def from_dict(self, stored: dict) -> http.Response:
            response = dict(stored)
            key = response.pop("bodyKey", None)
            if key is not None:
                body = storage.get_bytes(settings().output_bucket, key)
                if body is None:
                    raise storage.StorageError(f"{HEADER}: the first answer to this key is no longer stored")
                response["body"] = body.decode("utf-8", "surrogatepass")
            response["headers"] = {**(response.get("headers") or {}), REPLAYED_HEADER: "true"}
            return response

    return Answers
