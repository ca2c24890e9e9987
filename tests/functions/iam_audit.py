"""Every AWS call a handler makes or presigns in these tests, checked against its function's role
in the synthesized template: what moto lets through, IAM must allow too.

The handlers are wrapped once, when the handler tests' conftest imports them, so that each
call is recorded under the function that made it. botocore's ``before-parameter-build``
event sees every API call and every presigned URL (service, operation, bucket and key, ARN);
presigned POSTs are recorded by wrapping ``generate_presigned_post``. The state machine's
own calls are recorded where the tests play its steps (``record_state_machine``).

S3 answers a read of a missing key as AWS does for the function's role, not as moto does: 404
only to a caller allowed ``s3:ListBucket`` on the bucket for that key's prefix, else 403
AccessDenied (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and
API_HeadObject.html, "Permissions"). Such a read is recorded as the ``s3:ListBucket`` it needs,
so a function that probes for an object it may not list fails the audit.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import botocore.handlers
import botocore.signers
from iam_policy import Grant, Policies
from stacks import ACCOUNT, Synth

from core.layout import split_s3_uri
from core.routes import ROUTES, WORKERS
from imagegen.registry import INFERENCE_PROFILE_PREFIXES, inference_profile_model

STATE_MACHINE = "(state machine)"
HANDLER_MODULES = tuple(dict.fromkeys([route.module for route in ROUTES] + list(WORKERS)))

# A region each geography's inference profiles route to, other than the caller's: the grant
# must cover the foundation model wherever the profile sends the call.
_DESTINATION = {
    "us.": "us-east-2",
    "eu.": "eu-west-3",
    "apac.": "ap-southeast-2",
    "us-gov.": "us-gov-east-1",
    "jp.": "ap-northeast-3",
    "au.": "ap-southeast-4",
    "global.": "sa-east-1",
}
assert set(_DESTINATION) == set(INFERENCE_PROFILE_PREFIXES)
# IAM checks HeadObject as s3:GetObject and ListObjectsV2 as s3:ListBucket.
_S3_ACTIONS = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket"}
# What S3 answers a missing key without s3:ListBucket: GetObject's error names AccessDenied;
# HeadObject has no body, so botocore names the error by its status.
_FORBIDDEN = {
    "GetObject": {"Code": "AccessDenied", "Message": "Access Denied"},
    "HeadObject": {"Code": "403", "Message": "Forbidden"},
}
_READ_KEY = "imagegen_audit_read"
# The webhook queue and secret the handler tests make in moto (tests/functions/test_webhooks.py):
# the template's queue and secret stand for them. Moto names a secret's ARN with six random
# characters, as Secrets Manager does.
WEBHOOK_QUEUE = "imagegen-webhooks"
WEBHOOK_SECRET = "imagegen-webhook-secret"
# The content credentials' KMS key and chain secret the handler tests make in moto
# (tests/functions/signing.py), for the template's key and secret: the key by its id (the tests
# pin moto's), the secret by its name.
SIGNING_KEY_ID = "c2a0c2a0-0000-4000-8000-00000000c2a0"
CERTIFICATE_SECRET = "imagegen-certificate-chain"


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    # Every one of these must be allowed (an inference profile is checked twice).
    resources: tuple[str, ...]
    # The request's condition keys, e.g. (("s3:prefix", "outputs/<id>/manifest.json"),).
    context: tuple[tuple[str, str], ...] = ()

    def describe(self, resource: str) -> str:
        keys = "".join(f" with {key}={value}" for key, value in self.context)
        return f"{self.function}: {self.action} on {resource}{keys}"


class Recorder:
    def __init__(self) -> None:
        # Per context, not per process: concurrent invocations in threads each record as their
        # own function, and a handler's fan-out threads (run in a copy of its context) as it.
        self._function: ContextVar[str | None] = ContextVar("audited_function", default=None)
        self.calls: list[Call] = []
        # The roles S3 answers for (set per test): None answers as moto does.
        self.policies: Policies | None = None

    @property
    def function(self) -> str | None:
        return self._function.get()

    @function.setter
    def function(self, name: str | None) -> None:
        self._function.set(name)

    def audited(self, module: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            outer, self.function = self.function, module
            try:
                return handler(event, context)
            finally:
                self.function = outer

        return run

    def install(self) -> None:
        """Record what every client does inside an audited handler. botocore registers its
        built-in handlers on every session it creates (moto swaps the default session), so the
        functions' clients are recorded whenever ``core.clients`` makes them."""
        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", self._before_parameter_build))
        botocore.handlers.BUILTIN_HANDLERS.append(("after-call.s3", self._after_s3_call))
        sign = botocore.signers.S3PostPresigner.generate_presigned_post
        recorder = self

        def generate_presigned_post(self: Any, request_dict: dict, fields: dict, conditions: list, **kwargs: Any):
            bucket = next(c["bucket"] for c in conditions if isinstance(c, dict) and "bucket" in c)
            recorder._record("s3:PutObject", (_object_arn(bucket, fields["key"]),))
            return sign(self, request_dict, fields=fields, conditions=conditions, **kwargs)

        botocore.signers.S3PostPresigner.generate_presigned_post = generate_presigned_post

    def record_state_machine(self, model_id: str, input_uri: str, output_uri: str, region: str) -> None:
        """One model call of the state machine's ``bedrock:invokeModel`` task."""
        outer, self.function = self.function, STATE_MACHINE
        try:
            self._record("s3:GetObject", (_object_arn(*split_s3_uri(input_uri)),))
            self._record("bedrock:InvokeModel", _model_arns(model_id, region))
            self._record("s3:PutObject", (_object_arn(*split_s3_uri(output_uri)),))
        finally:
            self.function = outer

    @contextlib.contextmanager
    def outside(self) -> Iterator[None]:
        """What a test does itself in the middle of a handler's call: not the function's."""
        outer, self.function = self.function, None
        try:
            yield
        finally:
            self.function = outer

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls

    def _record(self, action: str, resources: tuple[str, ...], context: tuple[tuple[str, str], ...] = ()) -> None:
        if self.function is not None:
            self.calls.append(Call(self.function, action, resources, context))

    def _before_parameter_build(self, params: dict, model: Any, context: dict, **_: Any) -> None:
        if self.function is None:
            return
        region = context.get("client_region")
        service, operation = model.service_model.signing_name, model.name
        if context.get("is_presign_request") and operation == "CreateBucket":
            return  # botocore serializes a presigned POST as CreateBucket; recorded above
        if service == "s3":
            action = _S3_ACTIONS.get(operation, operation)
            key = params.get("Key")
            resource = _object_arn(params["Bucket"], key) if key else f"arn:aws:s3:::{params['Bucket']}"
            self._record(f"s3:{action}", (resource,))
            if operation in _FORBIDDEN and not context.get("is_presign_request"):
                context[_READ_KEY] = (params["Bucket"], key)
        elif service == "bedrock":
            self._record(f"bedrock:{operation}", _model_arns(params["modelId"], region))
        elif service == "states":
            arn = params.get("executionArn") or params.get("stateMachineArn")
            self._record(f"states:{operation}", (arn,))
        elif service == "dynamodb":
            self._record(f"dynamodb:{operation}", (f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{params['TableName']}",))
        elif service == "sqs":
            # https://sqs.<region>.amazonaws.com/<account>/<name> -> arn:aws:sqs:<region>:<account>:<name>
            account, name = params["QueueUrl"].rstrip("/").split("/")[-2:]
            self._record(f"sqs:{operation}", (f"arn:aws:sqs:{region}:{account}:{name}",))
        elif service == "kms":
            key = params["KeyId"]
            arn = key if key.startswith("arn:") else f"arn:aws:kms:{region}:{ACCOUNT}:key/{key}"
            self._record(f"kms:{operation}", (arn,))
        elif service == "secretsmanager":
            secret = params["SecretId"]
            arn = secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret}"
            self._record(f"secretsmanager:{operation}", (arn,))
        else:
            raise AssertionError(f"the audit does not know {service}:{operation}; teach it")

    def _after_s3_call(self, http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        """A read of a missing key: record the s3:ListBucket that a 404 needs, and answer 403
        when the function's role does not have it."""
        read = context.get(_READ_KEY)
        if self.function is None or read is None or http_response.status_code != 404:
            return
        bucket, key = read
        needed = Call(self.function, "s3:ListBucket", (f"arn:aws:s3:::{bucket}",), (("s3:prefix", key),))
        self.calls.append(needed)
        if self.policies is None:
            return
        role = role_of(self.policies, self.function)
        if not self.policies.matching(role, needed.action, needed.resources[0], dict(needed.context)):
            http_response.status_code = 403
            parsed["Error"] = dict(_FORBIDDEN[model.name])
            parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _model_arns(model_id: str, region: str) -> tuple[str, ...]:
    """What Bedrock authorizes an InvokeModel of ``model_id`` from ``region`` against."""
    foundation_model = inference_profile_model(model_id)
    if foundation_model is None:
        return (
            (model_id,) if model_id.startswith("arn:") else (f"arn:aws:bedrock:{region}::foundation-model/{model_id}",)
        )
    profile = model_id.partition(":inference-profile/")[2] or model_id
    destination = _DESTINATION[profile.removesuffix(foundation_model)]
    arn = (
        model_id if model_id.startswith("arn:") else f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{model_id}"
    )
    return (arn, f"arn:aws:bedrock:{destination}::foundation-model/{foundation_model}")


RECORDER = Recorder()


def audit_handlers() -> None:
    """Wrap every handler module's ``handler`` (the tests then import the wrapped one) and
    start recording."""
    RECORDER.install()
    for module in HANDLER_MODULES:
        loaded = importlib.import_module(module)
        if not getattr(loaded.handler, "__wrapped__", None):
            loaded.handler = RECORDER.audited(module, loaded.handler)


# --- judging ------------------------------------------------------------------------------


def policies_for(synth: Synth, references: dict[str, str]) -> Policies:
    """The template's grants with its references resolved to the test's resources: buckets,
    state machine, and the pseudo parameters of the account and region the tests run in."""
    stack = synth.stack
    resolved: dict[str, str] = {}
    for bucket, name in (
        (stack.storage.output_bucket, references["output_bucket"]),
        (stack.storage.input_bucket, references["input_bucket"]),
    ):
        logical_id = stack.resolve(bucket.bucket_name)["Ref"]
        resolved |= {logical_id: name, f"{logical_id}.Arn": f"arn:aws:s3:::{name}"}
    for table, name in (
        (stack.tables.spend, references["spend_table"]),
        (stack.tables.idempotency, references["idempotency_table"]),
    ):
        logical_id = stack.resolve(table.table_name)["Ref"]
        arn = f"arn:aws:dynamodb:{references['region']}:{ACCOUNT}:table/{name}"
        resolved |= {logical_id: name, f"{logical_id}.Arn": arn}
    webhooks = stack.webhooks
    queue = stack.resolve(webhooks.queue.queue_arn)["Fn::GetAtt"][0]
    secret = stack.resolve(webhooks.secret.secret_arn)["Ref"]
    resolved |= {
        f"{queue}.Arn": f"arn:aws:sqs:{references['region']}:{ACCOUNT}:{WEBHOOK_QUEUE}",
        secret: f"arn:aws:secretsmanager:{references['region']}:{ACCOUNT}:secret:{WEBHOOK_SECRET}-??????",
    }
    provenance = stack.provenance
    if provenance.signing_key is not None and provenance.certificate_secret is not None:
        key = stack.resolve(provenance.signing_key.key_arn)["Fn::GetAtt"][0]
        chain = stack.resolve(provenance.certificate_secret.secret_arn)["Ref"]
        resolved |= {
            f"{key}.Arn": f"arn:aws:kms:{references['region']}:{ACCOUNT}:key/{SIGNING_KEY_ID}",
            chain: f"arn:aws:secretsmanager:{references['region']}:{ACCOUNT}:secret:{CERTIFICATE_SECRET}-??????",
        }
    machine = stack.resolve(stack.workflow.state_machine.state_machine_arn)["Ref"]
    resolved |= {machine: references["state_machine_arn"], f"{machine}.Name": references["state_machine_name"]}
    resolved |= {
        "AWS::Partition": "aws",
        "AWS::Region": references["region"],
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
    }
    return Policies(synth.document, resolved)


def denied(policies: Policies, calls: list[Call]) -> tuple[list[str], set[Grant]]:
    """The calls no grant allows (described), and the grants that allowed the others."""
    refused, used = [], set()
    for call in calls:
        role = role_of(policies, call.function)
        for resource in call.resources:
            grants = policies.matching(role, call.action, resource, dict(call.context))
            if not grants:
                refused.append(call.describe(resource))
            used.update(grants)
    return refused, used


def role_of(policies: Policies, function: str) -> str:
    return policies.role_of_state_machine() if function == STATE_MACHINE else policies.role_of_handler(function)


def unused(policies: Policies, used: set[Grant]) -> list[Grant]:
    """Grants of the audited roles that no recorded call needed (what the platform does for the
    code aside: log and trace writes, SQS polling for the trigger, the state machine invoking
    its steps)."""
    roles = {policies.role_of_handler(module) for module in HANDLER_MODULES} | {policies.role_of_state_machine()}
    return sorted(
        (
            grant
            for role in roles
            for grant in policies.grants.get(role, [])
            if grant not in used and not grant.action.startswith(("logs:", "xray:", "sqs:", "lambda:"))
        ),
        key=lambda grant: (grant.role, grant.action, grant.resource),
    )
