"""cdk-nag (AwsSolutions, Serverless) and cfn-lint on the synthesized templates, synthesized
without an environment (`python app.py`), for a concrete account and region (what `cdk deploy`
synthesizes), and by the real CDK CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import aws_s3 as s3
from stacks import ACCOUNT

from app import build_app
from infra import ROOT
from infra.nag import rule_packs

BUILDS = ["synth", "variant", "deployed"]


@pytest.mark.parametrize("build", BUILDS)
def test_cdk_nag_packs_report_no_unacknowledged_finding(build, request):
    synth = request.getfixturevalue(build)
    for pack in rule_packs(synth.app):
        report = pack.validate_scope(synth.stack)
        findings = [f"{v.rule_name} at {r.construct_path}" for v in report.violations for r in v.violating_resources]
        assert findings == [], pack.name


def test_a_new_finding_fails_the_synth(tmp_path):
    app = build_app(outdir=str(tmp_path))
    s3.Bucket(app.node.find_child("ImageGen"), "Unprotected")

    with pytest.raises(Exception, match="AwsSolutions-S10"):
        app.synth()


def test_cfn_lint_passes_on_every_template(synth, variant, deployed):
    # One run over the three templates: cfn-lint's start-up (its specs) is most of a run's time.
    templates = [str(built.template_path) for built in (synth, variant, deployed)]
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--", *templates], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.usefixtures("layer")  # its synth reuses the cached layer; building it is the fixture's, under a lock
def test_the_cdk_cli_synthesizes_the_stack_for_an_account_and_region(tmp_path):
    """`npx cdk deploy` synthesizes for the deploying account and region; cdk-nag runs on that
    synth and any unacknowledged finding stops it. The CLI takes the account from the
    credentials; without any it passes CDK_DEFAULT_ACCOUNT through, as here."""
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),  # no ~/.aws, no ~/.cdk of this machine
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        # The region that offers every default model.
        "AWS_REGION": "us-west-2",
        "AWS_EC2_METADATA_DISABLED": "true",
        # Loopback only: no telemetry, no version check, no notices.
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "CDK_DISABLE_VERSION_CHECK": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    out = tmp_path / "cdk.out"

    result = subprocess.run(
        [str(cli), "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((out / "ImageGen.template.json").read_text())
    rendered = json.dumps(template)
    assert f":states:us-west-2:{ACCOUNT}:execution:" in rendered
    assert "ModelsOfferedInRegion" not in rendered, "checked at synth: the region is known"
    assert "BedrockRegionIsStackRegion" not in rendered
