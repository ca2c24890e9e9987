"""`make deploy`'s preflight (tools/deploy.py) for every availability state Bedrock reports.

Bedrock is answered by botocore's Stubber, which checks each request and each canned answer
against botocore's service model: the shapes are those of
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetFoundationModelAvailability.html,
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListFoundationModelAgreementOffers.html and
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateFoundationModelAgreement.html.
What the states mean for a deployment (a Marketplace subscription on first use, the deployer's
aws-marketplace permissions, a payment method): https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html.
No network, no AWS account: the credentials are fake and `cdk deploy` is never really run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tools import deploy

REGION = "us-west-2"
CORE = "stability.stable-image-core-v1:1"
ULTRA = "stability.stable-image-ultra-v1:1"
# An Image Service: the deployment invokes its us.* inference profile, Bedrock is asked about the model.
INPAINT_PROFILE = "us.stability.stable-image-inpaint-v1:0"
INPAINT = "stability.stable-image-inpaint-v1:0"
OFFER_TOKEN = "offer-token-for-stable-image-core"


@dataclass
class Bedrock:
    stubber: Stubber
    # The regions and profiles the preflight made its client for.
    clients: list[tuple[str, str | None]] = field(default_factory=list)

    def availability(
        self,
        model_id: str,
        *,
        authorization: str = "AUTHORIZED",
        entitlement: str = "AVAILABLE",
        agreement: str = "AVAILABLE",
        error: str | None = None,
        region: str = "AVAILABLE",
    ) -> None:
        agreement_availability = {"status": agreement, **({"errorMessage": error} if error else {})}
        answer = {
            "modelId": model_id,
            "agreementAvailability": agreement_availability,
            "authorizationStatus": authorization,
            "entitlementAvailability": entitlement,
            "regionAvailability": region,
        }
        self.stubber.add_response("get_foundation_model_availability", answer, {"modelId": model_id})

    def offers(self, model_id: str) -> None:
        offer = {
            "offerId": "offer-core-public",
            "offerToken": OFFER_TOKEN,
            "termDetails": {
                "usageBasedPricingTerm": {
                    "rateCard": [{"dimension": "images", "price": "0.04", "unit": "USD per image"}]
                },
                "legalTerm": {"url": "https://aws.amazon.com/marketplace/eula/stability"},
                "supportTerm": {"refundPolicyDescription": "none"},
            },
        }
        self.stubber.add_response(
            "list_foundation_model_agreement_offers",
            {"modelId": model_id, "offers": [offer]},
            {"modelId": model_id, "offerType": "PUBLIC"},
        )

    def create(self, model_id: str) -> None:
        self.stubber.add_response(
            "create_foundation_model_agreement", {"modelId": model_id}, {"offerToken": OFFER_TOKEN, "modelId": model_id}
        )


@pytest.fixture
def bedrock(monkeypatch) -> Bedrock:
    """Bedrock's control plane, stubbed; fake credentials and no AWS config file of the machine's."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    client = boto3.client("bedrock", region_name=REGION)
    with Stubber(client) as stubber:
        fake = Bedrock(stubber)

        def make_client(region: str, profile: str | None) -> Any:
            fake.clients.append((region, profile))
            return client

        monkeypatch.setattr(deploy, "bedrock_client", make_client)
        yield fake
        stubber.assert_no_pending_responses()


@pytest.fixture
def cdk(monkeypatch) -> list[tuple[list[str], dict[str, Any]]]:
    """Every command the preflight runs (only `npx cdk deploy` is expected), never run for real."""
    runs: list[tuple[list[str], dict[str, Any]]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        runs.append((command, kwargs))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(deploy.subprocess, "run", run)
    return runs


def cdk_json_models() -> list[str]:
    return json.loads((deploy.ROOT / "cdk.json").read_text())["context"]["models"]


# --- ready: cdk deploy runs --------------------------------------------------------------------


def test_every_default_model_ready_runs_cdk_deploy_with_the_operators_arguments(bedrock, cdk, capsys):
    for name in cdk_json_models():
        bedrock.availability(deploy.MODELS[name].model_id.removeprefix("us."))

    status = deploy.main(["--require-approval", "never"])

    assert status == 0
    assert [command for command, _ in cdk] == [["npx", "cdk", "deploy", "--require-approval", "never"]]
    options = cdk[0][1]
    assert options["cwd"] == deploy.ROOT
    assert options["env"]["AWS_REGION"] == REGION and options["env"]["AWS_DEFAULT_REGION"] == REGION
    out = capsys.readouterr().out
    assert out.count("  ready") == len(cdk_json_models())
    assert "Every model is ready." in out
    assert bedrock.clients == [(REGION, None)]


def test_preflight_only_prints_the_table_and_runs_no_cdk(bedrock, cdk, capsys):
    bedrock.availability(CORE)

    assert deploy.main(["--preflight-only", "-c", "models=stable-image-core"]) == 0

    assert cdk == []
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("model "))
    assert header.split() == ["model", "model", "id", "authorization", "entitlement", "agreement", "region", "verdict"]
    row = next(line for line in lines if line.startswith("stable-image-core "))
    assert row.split() == ["stable-image-core", CORE, "AUTHORIZED", "AVAILABLE", "AVAILABLE", "AVAILABLE", "ready"]


def test_a_models_override_checks_only_that_model_and_reaches_cdk(bedrock, cdk):
    bedrock.availability(CORE)  # one answer queued: a second availability call would fail the Stubber

    assert deploy.main(["-c", "models=stable-image-core"]) == 0

    assert [command for command, _ in cdk] == [["npx", "cdk", "deploy", "-c", "models=stable-image-core"]]


def test_an_inference_profile_is_asked_about_as_its_foundation_model(bedrock, cdk, capsys):
    bedrock.availability(CORE)
    bedrock.availability(INPAINT)
    override = json.dumps({"stable-image-core": f"us.{CORE}"})

    status = deploy.main(
        ["--preflight-only", "-c", "models=stable-image-core,stable-image-inpaint", "-c", f"model_ids={override}"]
    )

    assert status == 0
    out = capsys.readouterr().out
    # The table shows the ids the functions invoke; the Stubber checked the ids that were asked.
    assert f"us.{CORE}" in out and INPAINT_PROFILE in out


def test_the_profile_and_region_options_reach_the_client_and_cdk(bedrock, cdk):
    bedrock.availability(CORE)

    status = deploy.main(["--region", "us-east-1", "--profile", "deployer", "-c", "models=stable-image-core"])

    assert status == 0
    assert bedrock.clients == [("us-east-1", "deployer")]
    command, options = cdk[0]
    assert command == ["npx", "cdk", "deploy", "-c", "models=stable-image-core", "--profile", "deployer"]
    assert options["env"]["AWS_REGION"] == "us-east-1"


# --- agreements --------------------------------------------------------------------------------


def test_a_missing_agreement_without_the_flag_stops_naming_the_model_the_cost_and_the_command(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="NOT_AVAILABLE", entitlement="NOT_AVAILABLE")
    bedrock.availability(ULTRA)

    status = deploy.main(["-c", "models=stable-image-core,stable-image-ultra"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    out = capsys.readouterr().out
    assert "Needs a Marketplace agreement: stable-image-core." in out
    assert "AWS Marketplace offer" in out and "billed" in out
    assert ".venv/bin/python tools/deploy.py --accept-agreements -c models=stable-image-core,stable-image-ultra" in out


def test_the_flag_accepts_the_public_offer_with_its_token_then_deploys(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="NOT_AVAILABLE", entitlement="NOT_AVAILABLE")
    bedrock.offers(CORE)
    bedrock.create(CORE)
    bedrock.availability(CORE)  # asked again after the 202: the agreement is in place

    status = deploy.main(["--accept-agreements", "-c", "models=stable-image-core"])

    assert status == 0
    assert [command for command, _ in cdk] == [["npx", "cdk", "deploy", "-c", "models=stable-image-core"]]
    out = capsys.readouterr().out
    assert f"stable-image-core: agreement requested for {CORE}" in out
    assert "0.04 USD per image" in out


def test_an_agreement_still_pending_after_accepting_stops_with_a_retry_status(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="NOT_AVAILABLE", entitlement="NOT_AVAILABLE")
    bedrock.offers(CORE)
    bedrock.create(CORE)
    bedrock.availability(CORE, agreement="PENDING", entitlement="NOT_AVAILABLE")

    status = deploy.main(["--accept-agreements", "-c", "models=stable-image-core"])

    assert status == deploy.EXIT_PENDING
    assert cdk == []
    out = capsys.readouterr().out
    assert "Agreement pending: stable-image-core." in out and "15 minutes" in out


def test_an_agreement_that_exists_already_is_not_an_error(bedrock, cdk, capsys):
    bedrock.availability(INPAINT, agreement="NOT_AVAILABLE")
    bedrock.offers(INPAINT)
    bedrock.stubber.add_client_error(
        "create_foundation_model_agreement",
        service_error_code="ConflictException",
        service_message="Could not create agreement - Agreement already exists",
        http_status_code=400,
    )
    bedrock.availability(INPAINT)

    assert deploy.main(["--accept-agreements", "-c", "models=stable-image-inpaint"]) == 0

    assert "exists already" in capsys.readouterr().out
    assert len(cdk) == 1


def test_a_pending_agreement_is_waited_for_not_deployed_over(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="PENDING")

    status = deploy.main(["-c", "models=stable-image-core"])

    assert status == deploy.EXIT_PENDING
    assert cdk == []
    out = capsys.readouterr().out
    assert "Agreement pending: stable-image-core." in out
    assert ".venv/bin/python tools/deploy.py -c models=stable-image-core" in out


def test_a_failed_agreement_shows_bedrocks_error_message(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="ERROR", error="Invalid payment instrument on the account")

    status = deploy.main(["--accept-agreements", "-c", "models=stable-image-core"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    out = capsys.readouterr().out
    assert "Marketplace agreement failed: stable-image-core." in out
    assert "Invalid payment instrument on the account" in out


def test_nothing_is_accepted_while_another_model_is_blocked(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="NOT_AVAILABLE")
    bedrock.availability(ULTRA, authorization="NOT_AUTHORIZED")

    # No offers or agreement calls are queued: the Stubber fails the test if one is made.
    status = deploy.main(["--accept-agreements", "-c", "models=stable-image-core,stable-image-ultra"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    assert "After fixing the above, re-run with the flag" in capsys.readouterr().out


# --- what the operator must fix ----------------------------------------------------------------


def test_not_authorized_names_the_marketplace_permissions(bedrock, cdk, capsys):
    bedrock.availability(CORE, authorization="NOT_AUTHORIZED", agreement="NOT_AVAILABLE")

    status = deploy.main(["-c", "models=stable-image-core"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    out = capsys.readouterr().out
    assert "Not authorized: stable-image-core." in out
    for permission in ("aws-marketplace:Subscribe", "aws-marketplace:Unsubscribe", "aws-marketplace:ViewSubscriptions"):
        assert permission in out


def test_no_entitlement_with_an_agreement_asks_for_a_payment_method(bedrock, cdk, capsys):
    bedrock.availability(CORE, entitlement="NOT_AVAILABLE")

    status = deploy.main(["-c", "models=stable-image-core"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    out = capsys.readouterr().out
    assert "Not entitled: stable-image-core." in out and "payment method" in out


def test_a_region_that_does_not_serve_a_model_names_the_regions_that_do(bedrock, cdk, capsys):
    bedrock.availability(CORE, region="NOT_AVAILABLE")
    bedrock.availability(INPAINT, region="NOT_AVAILABLE")
    bedrock.availability(ULTRA)

    status = deploy.main(
        ["--region", "eu-central-1", "-c", "models=stable-image-core,stable-image-inpaint,stable-image-ultra"]
    )

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    assert bedrock.clients == [("eu-central-1", None)]
    out = capsys.readouterr().out
    assert "Not offered in eu-central-1: stable-image-core, stable-image-inpaint." in out
    assert "stable-image-core is served in: us-west-2" in out
    assert "stable-image-inpaint is served in: us-east-1, us-east-2, us-west-2" in out
    assert "-c models=stable-image-ultra" in out


def test_access_denied_on_the_availability_call_names_the_permission(bedrock, cdk, capsys):
    bedrock.stubber.add_client_error(
        "get_foundation_model_availability",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: bedrock:GetFoundationModelAvailability",
        http_status_code=403,
    )

    status = deploy.main(["-c", "models=stable-image-core"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    err = capsys.readouterr().err
    assert "may not call bedrock:GetFoundationModelAvailability" in err
    assert "Grant it bedrock:GetFoundationModelAvailability" in err


def test_access_denied_on_accepting_names_the_bedrock_and_marketplace_permissions(bedrock, cdk, capsys):
    bedrock.availability(CORE, agreement="NOT_AVAILABLE")
    bedrock.offers(CORE)
    bedrock.stubber.add_client_error(
        "create_foundation_model_agreement",
        service_error_code="AccessDeniedException",
        service_message="not authorized",
        http_status_code=403,
    )

    status = deploy.main(["--accept-agreements", "-c", "models=stable-image-core"])

    assert status == deploy.EXIT_BLOCKED
    assert cdk == []
    err = capsys.readouterr().err
    assert "may not call bedrock:CreateFoundationModelAgreement" in err
    assert "aws-marketplace:Subscribe" in err


def test_an_unknown_model_id_is_reported_in_its_row(bedrock, cdk, capsys):
    bedrock.stubber.add_client_error(
        "get_foundation_model_availability",
        service_error_code="ResourceNotFoundException",
        service_message="The model does not exist",
        http_status_code=404,
    )

    status = deploy.main(
        ["-c", "models=stable-image-core", "-c", 'model_ids={"stable-image-core": "stability.typo-v9:0"}']
    )

    assert status == deploy.EXIT_BLOCKED
    out = capsys.readouterr().out
    assert "stability.typo-v9:0): The model does not exist" in out


# --- usage -------------------------------------------------------------------------------------


def test_without_a_region_it_stops_before_any_aws_call(bedrock, cdk, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")

    status = deploy.main(["-c", "models=stable-image-core"])

    assert status == deploy.EXIT_USAGE
    assert bedrock.clients == [] and cdk == []
    assert "--region" in capsys.readouterr().err


def test_an_invalid_configuration_stops_before_any_aws_call(bedrock, cdk, capsys):
    status = deploy.main(["-c", "models=no-such-model"])

    assert status == deploy.EXIT_USAGE
    assert bedrock.clients == [] and cdk == []
    assert "no-such-model" in capsys.readouterr().err


def test_importing_the_script_loads_no_aws_sdk_and_no_cdk():
    code = (
        "import sys; import tools.deploy; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'aws_cdk'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=deploy.ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# --- content credentials --------------------------------------------------------------------


def test_the_preflight_says_the_deployment_signs_and_what_signing_needs(bedrock, cdk, capsys):
    bedrock.availability(CORE)

    assert deploy.main(["--preflight-only", "-c", "models=stable-image-core"]) == 0

    # cdk.json's default: provenance=sign, no timestamp authority.
    lines = capsys.readouterr().out.splitlines()
    [line] = [line for line in lines if line.startswith("content credentials:")]
    assert line == (
        "content credentials: sign (KMS key + chain from `make provenance-cert`; until a chain is stored, "
        "images are stored unsigned and each answer says so; no timestamp authority)"
    )


def test_the_preflight_names_a_configured_timestamp_authority(bedrock, cdk, capsys):
    bedrock.availability(CORE)
    url = "http://timestamp.digicert.com"

    assert (
        deploy.main(["--preflight-only", "-c", "models=stable-image-core", "-c", f"provenance_timestamp_url={url}"])
        == 0
    )

    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("content credentials:")]
    assert line.startswith("content credentials: sign ") and line.endswith(f"timestamped by {url})")


def test_a_context_override_turning_signing_off_is_what_the_preflight_says(bedrock, cdk, capsys):
    bedrock.availability(CORE)

    assert deploy.main(["-c", "models=stable-image-core", "--context=provenance=off"]) == 0

    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("content credentials:")]
    assert line.startswith("content credentials: off ")
    assert "make provenance-cert" not in out
    # cdk gets the same override, so what was said is what is deployed.
    assert cdk[0][0] == ["npx", "cdk", "deploy", "-c", "models=stable-image-core", "--context=provenance=off"]


def test_an_unknown_provenance_mode_stops_before_any_aws_call(bedrock, cdk, capsys):
    status = deploy.main(["-c", "provenance=maybe"])

    assert status == deploy.EXIT_USAGE
    assert bedrock.clients == [] and cdk == []
    assert "provenance" in capsys.readouterr().err
