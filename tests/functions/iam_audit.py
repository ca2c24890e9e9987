"""Every AWS call a handler makes or presigns in these tests, checked against its function's role
in the synthesized template: what moto lets through, IAM must allow too.

The handlers are wrapped once, when the handler tests' conftest imports them, so that each
call is recorded under the function that made it. botocore's ``before-parameter-build``
event sees every API call and every presigned URL (service, operation, bucket and key, ARN);
presigned POSTs are recorded by wrapping ``generate_presigned_post``. The state machine's
own calls are recorded where the tests play its steps (``record_state_machine``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    # Every one of these must be allowed (an inference profile is checked twice).
    resources: tuple[str, ...]


class Recorder:
    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: list[Call] = []

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

    def _record(self, action: str, resources: tuple[str, ...]) -> None:
        if self.function is not None:
            self.calls.append(Call(self.function, action, resources))

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
        elif service == "bedrock":
            self._record(f"bedrock:{operation}", _model_arns(params["modelId"], region))
        elif service == "states":
            arn = params.get("executionArn") or params.get("stateMachineArn")
            self._record(f"states:{operation}", (arn,))
        else:
            raise AssertionError(f"the audit does not know {service}:{operation}; teach it")


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _model_arns(model_id: str, region: str) -> tuple[str, ...]:
    """What Bedrock authorizes an InvokeModel of ``model_id`` from ``region`` against."""
    if model_id.startswith("arn:"):
        return (model_id,)
    foundation_model = inference_profile_model(model_id)
    if foundation_model is None:
        return (f"arn:aws:bedrock:{region}::foundation-model/{model_id}",)
    destination = _DESTINATION[model_id[: len(model_id) - len(foundation_model)]]
    return (
        f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{model_id}",
        f"arn:aws:bedrock:{destination}::foundation-model/{foundation_model}",
    )


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
        role = (
            policies.role_of_state_machine()
            if call.function == STATE_MACHINE
            else policies.role_of_handler(call.function)
        )
        for resource in call.resources:
            grants = policies.matching(role, call.action, resource)
            if not grants:
                refused.append(f"{call.function}: {call.action} on {resource}")
            used.update(grants)
    return refused, used


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
