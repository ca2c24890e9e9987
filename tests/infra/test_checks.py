"""cdk-nag (AwsSolutions, Serverless) and cfn-lint on the synthesized templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import aws_s3 as s3

from app import build_app
from infra.nag import rule_packs


@pytest.mark.parametrize("build", ["synth", "variant"])
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


@pytest.mark.parametrize("build", ["synth", "variant"])
def test_cfn_lint_passes_on_the_template(build, request):
    template: Path = request.getfixturevalue(build).template_path
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--", str(template)], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout + result.stderr
