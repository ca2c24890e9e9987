#!/usr/bin/env python3
"""The CDK app: ``python app.py`` (or ``cdk synth``) synthesizes the stack; no Docker, no account."""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import App, Environment, Validations

from infra.config import DeployConfig, cdk_json_context
from infra.nag import rule_packs
from infra.stack import ImageGenStack


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    # cdk.json's context first; the CLI's (cdk.json again plus -c overrides) replaces it.
    # The CLI names the output folder; `python app.py` writes to cdk.out like `cdk synth` does.
    outdir = outdir or os.environ.get("CDK_OUTDIR") or "cdk.out"
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    config = DeployConfig.from_context(app.node.try_get_context)
    ImageGenStack(
        app,
        str(app.node.try_get_context("stack_name")),
        config=config,
        description="serverless-imagegen: image generation API on Amazon Bedrock",
        # Account and region come from the deploying credentials; synth needs neither.
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    # cdk-nag's AwsSolutions and Serverless packs run on every synth; a finding fails it.
    Validations.of(app).add_plugins(*rule_packs(app))
    return app


if __name__ == "__main__":
    build_app().synth()
