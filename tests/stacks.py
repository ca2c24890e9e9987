"""The stack as a deployment would synthesize it, for the infrastructure tests and for the
IAM audit of the handler tests (tests/functions/iam_audit.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagegen.registry import BEDROCK_MODELS, SEED_TASKS

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

# The account and region the handler tests' moto backend uses: the deployed template is
# synthesized for exactly these, as `cdk deploy` does with real credentials.
ACCOUNT = "123456789012"
REGION = "us-west-2"

# Every model, with Nova Canvas the default of the tasks it serves (what the handler tests
# send when they name no model), as an operator with extended access would deploy it.
SEED_DEFAULTS = dict.fromkeys(SEED_TASKS, "nova-canvas")
DEPLOYED = {
    "models": ",".join(BEDROCK_MODELS),
    "default_models": json.dumps(SEED_DEFAULTS),
    # No region offers every model (Nova Canvas and Stable Image Core share none): the handler
    # tests call them all from one, as an account with access to both would.
    "allow_unlisted_regions": "true",
}

VARIANT = {
    "iam_auth": "true",  # as `cdk deploy -c iam_auth=true` passes it
    # Where Nova Canvas is offered; Stable Image Core through a profile callable from there.
    "bedrock_region": "us-east-1",
    "models": "nova-canvas,titan-image-v2,stable-image-core",
    # A successor id, and a model called through a cross-Region inference profile.
    "model_ids": json.dumps(
        {
            "titan-image-v2": "amazon.titan-image-generator-v2:1",
            "stable-image-core": "us.stability.stable-image-core-v1:1",
        }
    ),
    "openai_models": json.dumps({"dall-e-3": "titan-image-v2", "house-style": "nova-canvas"}),
    "trigger_max_concurrency": "3",
    "log_level": "DEBUG",
    "alarm_email": "ops@example.com",
    "cors_origins": "https://app.example.com,https://admin.example.com",
}


@dataclass
class Synth:
    app: Any
    stack: Any
    template: Template
    template_path: Path

    def resources(self, kind: str) -> dict[str, dict]:
        return self.template.find_resources(kind)

    @property
    def routes(self) -> list:
        """The routes this deployment serves: a task's only where an enabled model serves it, the
        playground (which sends an API key) only where keys are taken."""
        from core.routes import ROUTES

        config = self.stack.config
        served = [route for route in ROUTES if route.task is None or route.task in config.tasks]
        return [route for route in served if not (config.iam_auth and route.module == "playground")]

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text())

    def methods(self) -> dict[tuple[str, str], dict]:
        """The API's methods by (HTTP method, path), e.g. ``("GET", "/v1/jobs/{id}")``."""
        resources = self.resources("AWS::ApiGateway::Resource")

        def path(resource_id: dict) -> str:
            if "Ref" not in resource_id:  # the API's root resource
                return ""
            properties = resources[resource_id["Ref"]]["Properties"]
            return path(properties["ParentId"]) + "/" + properties["PathPart"]

        return {
            (method["Properties"]["HttpMethod"], path(method["Properties"]["ResourceId"])): method["Properties"]
            for method in self.resources("AWS::ApiGateway::Method").values()
        }

    def definition(self) -> dict:
        """The state machine's definition; CloudFormation references become ``${LogicalId}`` or
        ``${LogicalId.Attribute}``."""
        [machine] = self.resources("AWS::StepFunctions::StateMachine").values()
        parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
        return json.loads("".join(part if isinstance(part, str) else _placeholder(part) for part in parts))


def _placeholder(token: dict) -> str:
    if "Ref" in token:
        return "${" + token["Ref"] + "}"
    if "Fn::GetAtt" in token:
        return "${" + ".".join(token["Fn::GetAtt"]) + "}"
    return "${?}"


def synthesize(
    outdir: Path, context: dict | None = None, *, account: str | None = None, region: str | None = None
) -> Synth:
    """Synthesize like ``python app.py``; with ``account``/``region`` like ``cdk deploy`` does."""
    # Imported here: loading aws_cdk starts a Node.js process, which only a synth needs (not,
    # for one, pytest-xdist's controller, which loads this module through tests/conftest.py).
    from aws_cdk.assertions import Template

    from app import build_app

    with _environment(CDK_DEFAULT_ACCOUNT=account, CDK_DEFAULT_REGION=region):
        app = build_app(context=context, outdir=str(outdir))
    stack = app.node.find_child("ImageGen")
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return Synth(app, stack, Template.from_stack(stack), Path(artifact.template_full_path))


@contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """Environment variables set (None: unset) for the block, then restored."""
    saved = {name: os.environ.get(name) for name in values}
    _apply(values)
    try:
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
