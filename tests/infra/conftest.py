from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app

VARIANT = {
    "iam_auth": "true",  # as `cdk deploy -c iam_auth=true` passes it
    "bedrock_region": "us-west-2",
    "models": "nova-canvas,titan-image-v2",
    "model_ids": '{"titan-image-v2": "amazon.titan-image-generator-v2:1"}',
    "trigger_max_concurrency": "3",
}


@dataclass
class Synth:
    app: Any
    stack: Any
    template: Template
    template_path: Path

    def resources(self, kind: str) -> dict[str, dict]:
        return self.template.find_resources(kind)

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


def _synth(tmp_path_factory, context: dict | None = None) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(context=context, outdir=str(outdir))
    stack = app.node.find_child("ImageGen")
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return Synth(app, stack, Template.from_stack(stack), Path(artifact.template_full_path))


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The stack as `python app.py` builds it with cdk.json's defaults."""
    return _synth(tmp_path_factory)


@pytest.fixture(scope="session")
def variant(tmp_path_factory) -> Synth:
    """IAM auth, another Bedrock region, a subset of models and an overridden model id."""
    return _synth(tmp_path_factory, VARIANT)
