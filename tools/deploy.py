"""Deploy with a preflight: `make deploy ARGS="[--accept-agreements] [-c key=value ...]"`.

    .venv/bin/python tools/deploy.py [--accept-agreements] [--preflight-only] [--region R] [--profile P]
                                     [cdk deploy args...] [-- more cdk deploy args]

Bedrock's model-access page is retired: the first call to a Marketplace model (every Stability
model) subscribes the account, and without the deployer's Marketplace permissions, a payment
method and the agreement, every call answers AccessDeniedException
(https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html). Found after the
deploy, that is a live API answering 502; this finds it before. For every model the deployment
enables (cdk.json's context with the same ``-c key=value`` overrides cdk gets) it asks
GetFoundationModelAvailability with the deployer's credentials and prints a table, then runs
``npx cdk deploy`` with the remaining arguments when every model is ready. It also says whether
the deployment will sign its images with content credentials (cdk.json's ``provenance``), and
what that needs.

A missing agreement is accepted only with --accept-agreements: that subscribes the AWS account
to the model's public Marketplace offer, billed per generated image. Anything else (IAM, payment
method, region) the operator fixes; the message says what and how.

Exit status: cdk's when it ran; 0 when --preflight-only finds every model ready; 1 when
something must be fixed first; 2 for a usage or configuration error; 75 (EX_TEMPFAIL) while an
agreement is PENDING: Bedrock finishes it by itself, re-run in a few minutes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "functions")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from imagegen.registry import MODELS, inference_profile_model, model_id_for  # noqa: E402 (found through the path above)

if TYPE_CHECKING:
    from infra.config import DeployConfig

EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_PENDING = 75  # sysexits.h EX_TEMPFAIL: the same command succeeds later without a change

# Bedrock subscribes the account on a Marketplace model's first use, with the caller's
# permissions; the model-access page above lists these three as a prerequisite of the IAM role.
# The functions' roles only invoke models: the deployer holds these, and the agreement is made first.
MARKETPLACE_PERMISSIONS = (
    "aws-marketplace:Subscribe",
    "aws-marketplace:Unsubscribe",
    "aws-marketplace:ViewSubscriptions",
)
# The IAM actions of what this preflight calls (each API operation's own action:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonbedrock.html).
PREFLIGHT_PERMISSIONS = (
    "bedrock:GetFoundationModelAvailability",
    "bedrock:ListFoundationModelAgreementOffers",
    "bedrock:CreateFoundationModelAgreement",
)
PRICING_URL = "https://aws.amazon.com/bedrock/pricing/"
MISSING = "—"

# The short verdicts of the table, in the order their advice is printed.
UNKNOWN = "unknown model id"
NOT_AUTHORIZED = "not authorized"
NOT_IN_REGION = "not in this region"
AGREEMENT_FAILED = "agreement failed"
NOT_ENTITLED = "not entitled"
NEEDS_AGREEMENT = "needs agreement"
PENDING = "agreement pending"
READY = "ready"


class Stop(Exception):
    """The preflight cannot go on; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_BLOCKED) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    name: str
    # What the functions invoke: a foundation model id or a cross-Region inference profile id.
    model_id: str
    # What Bedrock is asked about: availability and agreements belong to the foundation model.
    asked: str


@dataclass(frozen=True)
class Availability:
    """One GetFoundationModelAvailability answer (or why there is none) for one target.

    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetFoundationModelAvailability.html
    """

    target: Target
    authorization: str = MISSING  # AUTHORIZED | NOT_AUTHORIZED
    entitlement: str = MISSING  # AVAILABLE | NOT_AVAILABLE
    agreement: str = MISSING  # AVAILABLE | PENDING | NOT_AVAILABLE | ERROR
    agreement_error: str = ""
    region: str = MISSING  # AVAILABLE | NOT_AVAILABLE
    # Bedrock's message when it does not know the model id in this region.
    unknown: str = ""

    @property
    def blockers(self) -> list[str]:
        """What the operator must fix; accepting an agreement fixes none of these."""
        if self.unknown:
            return [UNKNOWN]
        found = []
        if self.authorization == "NOT_AUTHORIZED":
            found.append(NOT_AUTHORIZED)
        if self.region == "NOT_AVAILABLE":
            found.append(NOT_IN_REGION)
        if self.agreement == "ERROR":
            found.append(AGREEMENT_FAILED)
        # Without an agreement (or while it is PENDING) the entitlement can only be missing; it
        # says something about the account only once the agreement exists.
        if self.entitlement == "NOT_AVAILABLE" and self.agreement == "AVAILABLE":
            found.append(NOT_ENTITLED)
        return found

    @property
    def verdict(self) -> str:
        if self.blockers:
            return ", ".join(self.blockers)
        if self.agreement == "AVAILABLE":
            return READY
        if self.agreement == "NOT_AVAILABLE":
            return NEEDS_AGREEMENT
        return PENDING  # PENDING, or a status this script does not know yet: wait rather than deploy


# --- configuration --------------------------------------------------------------------------


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """This script's options, and everything else for `cdk deploy` (all of it after a bare ``--``)."""
    argv = list(argv)
    tail = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Other arguments go to `npx cdk deploy`.", allow_abbrev=False
    )
    parser.add_argument(
        "--accept-agreements",
        action="store_true",
        help="accept the public AWS Marketplace offer of each model that has no agreement (billed per image)",
    )
    parser.add_argument("--preflight-only", action="store_true", help="print the table and stop; no cdk deploy")
    parser.add_argument("--region", help="the deploy region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)")
    parser.add_argument("--profile", help="the AWS profile, for the preflight and for cdk")
    args, rest = parser.parse_known_args(own)
    return args, rest + tail


def context_overrides(cdk_args: Sequence[str]) -> dict[str, str]:
    """The ``-c key=value`` / ``--context key=value`` pairs cdk will see; the last of a key wins."""
    found: dict[str, str] = {}
    args = iter(cdk_args)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, "")
        elif arg.startswith("--context="):
            pair = arg.removeprefix("--context=")
        else:
            continue
        key, sep, value = pair.partition("=")
        if sep:
            found[key] = value
    return found


def deployment_config(cdk_args: Sequence[str]) -> DeployConfig:
    """The configuration `cdk deploy` with these arguments synthesizes (app.py reads it the same way)."""
    # infra.config pulls in aws_cdk and its Node kernel: loaded when needed, not at import.
    from infra.config import DeployConfig, cdk_json_context

    context = {**cdk_json_context(), **context_overrides(cdk_args)}
    return DeployConfig.from_context(context.get)


def targets(config: DeployConfig) -> list[Target]:
    found = []
    for name in config.models:
        model_id = model_id_for(MODELS[name], config.model_ids)
        found.append(Target(name, model_id, inference_profile_model(model_id) or model_id))
    return found


def provenance_line(config: DeployConfig) -> str:
    """Which content credentials the deployment's images will carry (cdk.json's ``provenance``)."""
    if config.provenance == "off":
        return "content credentials: off (stored images carry no C2PA manifest; -c provenance=sign to sign them)"
    timestamps = (
        f"timestamped by {config.provenance_timestamp_url}"
        if config.provenance_timestamp_url
        else "no timestamp authority"
    )
    return (
        "content credentials: sign (KMS key + chain from `make provenance-cert`; until a chain is stored, "
        f"images are stored unsigned and each answer says so; {timestamps})"
    )


def resolve_region(region: str | None, profile: str | None) -> str:
    """--region, else the environment, else the profile's: the region cdk deploys to."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        region = boto3.Session(profile_name=profile).region_name
    except BotoCoreError as error:
        raise Stop(f"deploy: {error}", EXIT_USAGE) from None
    if not region:
        raise Stop(
            "deploy: no AWS region: pass --region R, set AWS_REGION, or give the profile a region "
            "(aws configure set region R)",
            EXIT_USAGE,
        )
    return region


def bedrock_client(region: str, profile: str | None) -> Any:
    """Bedrock's control plane with the deployer's credentials (created here, never at import)."""
    import boto3

    return boto3.Session(profile_name=profile).client("bedrock", region_name=region)


# --- the AWS calls ---------------------------------------------------------------------------


def error_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__))


def error_message(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Message") or error)


def availability(client: Any, target: Target) -> Availability:
    from botocore.exceptions import ClientError

    try:
        answer = client.get_foundation_model_availability(modelId=target.asked)
    except ClientError as error:
        # A mistyped override or a model this region never had: say so in its row, check the rest.
        if error_code(error) in ("ResourceNotFoundException", "ValidationException"):
            return Availability(target, unknown=error_message(error))
        raise
    agreement = answer["agreementAvailability"]
    return Availability(
        target,
        authorization=answer["authorizationStatus"],
        entitlement=answer["entitlementAvailability"],
        agreement=agreement["status"],
        agreement_error=agreement.get("errorMessage", ""),
        region=answer["regionAvailability"],
    )


def accept(client: Any, target: Target) -> str:
    """Accept the model's public offer; a line saying what was done.

    ListFoundationModelAgreementOffers gives the offer token CreateFoundationModelAgreement takes
    (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListFoundationModelAgreementOffers.html,
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateFoundationModelAgreement.html).
    Creating answers 202: the agreement is requested, and it is PENDING until Marketplace is done.
    """
    from botocore.exceptions import ClientError

    offers = client.list_foundation_model_agreement_offers(modelId=target.asked, offerType="PUBLIC")["offers"]
    if not offers:
        return f"{target.name}: no public offer for {target.asked}; subscribe in the Bedrock console's model catalog"
    offer = offers[0]
    try:
        client.create_foundation_model_agreement(offerToken=offer["offerToken"], modelId=target.asked)
    except ClientError as error:
        # One subscription can cover several models (the Image Services): another made it already.
        if error_code(error) == "ConflictException" or "already exists" in error_message(error).lower():
            return f"{target.name}: an agreement for {target.asked} exists already ({error_message(error)})"
        raise
    return f"{target.name}: agreement requested for {target.asked} ({describe_offer(offer)})"


def describe_offer(offer: dict[str, Any]) -> str:
    terms = offer.get("termDetails", {})
    rates = terms.get("usageBasedPricingTerm", {}).get("rateCard", [])
    prices = "; ".join(
        " ".join(
            part
            for part in (rate.get("description") or rate.get("dimension"), rate.get("price"), rate.get("unit"))
            if part
        )
        for rate in rates
    )
    parts = [f"offer {offer.get('offerId', offer['offerToken'][:12] + '…')}"]
    if prices:
        parts.append(f"price: {prices}")
    if terms.get("legalTerm", {}).get("url"):
        parts.append(f"terms: {terms['legalTerm']['url']}")
    return ", ".join(parts)


# --- what the operator reads -----------------------------------------------------------------


def table(rows: Sequence[Availability]) -> list[str]:
    header = ("model", "model id", "authorization", "entitlement", "agreement", "region", "verdict")
    cells = [header] + [
        (
            row.target.name,
            row.target.model_id,
            row.authorization,
            row.entitlement,
            row.agreement,
            row.region,
            row.verdict,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]


def advice(rows: Sequence[Availability], region: str, argv: Sequence[str], *, accepted: bool) -> list[str]:
    """What to do, one paragraph per kind of problem, naming the models; ``argv`` is this run's."""

    def having(verdict: str) -> list[Availability]:
        return [row for row in rows if verdict in row.blockers or row.verdict == verdict]

    def names(found: Sequence[Availability]) -> str:
        return ", ".join(row.target.name for row in found)

    lines: list[str] = []
    if found := having(UNKNOWN):
        lines.append(f"Unknown to Bedrock in {region}: {names(found)}.")
        lines += [f"  {row.target.name} ({row.target.asked}): {row.unknown}" for row in found]
        lines.append("  Check the model id (cdk.json's model_ids, -c model_ids=...) and the region.")
    if found := having(NOT_AUTHORIZED):
        lines.append(f"Not authorized: {names(found)}.")
        lines.append(
            f"  The deployer's IAM identity needs {', '.join(MARKETPLACE_PERMISSIONS)} (Bedrock subscribes the "
            f"account to a Marketplace model on its first use), and {', '.join(PREFLIGHT_PERMISSIONS)} for this "
            "preflight. Check that no organization SCP or permissions boundary denies them."
        )
    if found := having(NOT_IN_REGION):
        lines.append(f"Not offered in {region}: {names(found)}.")
        lines += [
            f"  {row.target.name} is served in: {', '.join(MODELS[row.target.name].regions) or 'unknown'}"
            for row in found
        ]
        others = [row.target.name for row in rows if row not in found]
        leave_out = f", or leave them out: -c models={','.join(others)}" if others else ""
        lines.append(f"  Deploy in a region that serves them (--region R or AWS_REGION){leave_out}.")
    if found := having(AGREEMENT_FAILED):
        lines.append(f"Marketplace agreement failed: {names(found)}.")
        lines += [f"  {row.target.name}: {row.agreement_error or 'Bedrock gave no message'}" for row in found]
        lines.append(
            "  Fix what it names (often the account's payment method), then subscribe again; until then every "
            "call to the model answers AccessDeniedException."
        )
    if found := having(NOT_ENTITLED):
        lines.append(f"Not entitled: {names(found)}.")
        lines.append(
            "  The agreement exists but the account may not use the model: give the account a valid payment "
            "method for AWS Marketplace purchases (Billing and Cost Management, Payment preferences) and check "
            "that no organization policy restricts Marketplace purchases."
        )
    blocked = bool(lines)
    if found := having(NEEDS_AGREEMENT):
        lines += agreement_advice(found, argv, accepted=accepted, blocked=blocked)
    if found := having(PENDING):
        lines.append(f"Agreement pending: {names(found)}.")
        lines.append(
            "  Marketplace is finishing the subscription (AWS: up to 15 minutes); calls may answer "
            f"AccessDeniedException until it is AVAILABLE. Re-run in a few minutes:\n    {command_line(argv)}"
        )
    return lines


def agreement_advice(found: Sequence[Availability], argv: Sequence[str], *, accepted: bool, blocked: bool) -> list[str]:
    names = ", ".join(row.target.name for row in found)
    if accepted:
        return [
            f"Still no agreement after accepting: {names}.",
            f"  See the lines above; if an agreement was requested, re-run in a few minutes:\n    {command_line(argv)}",
        ]
    lines = [
        f"Needs a Marketplace agreement: {names}.",
        "  Accepting subscribes this AWS account to each model's public AWS Marketplace offer (its EULA and "
        f"price): every image generated is then billed to the account at that offer's price ({PRICING_URL}).",
    ]
    if any(row.entitlement == "NOT_AVAILABLE" for row in found):
        lines.append(
            "  Their entitlement is NOT_AVAILABLE too; it should follow the agreement. If it stays so, the "
            "account needs a valid payment method."
        )
    then = "After fixing the above, re-run" if blocked else "To accept and deploy, re-run"
    lines.append(f"  {then} with the flag:\n    {command_line(argv, accept=True)}")
    return lines


def command_line(argv: Sequence[str], *, accept: bool = False) -> str:
    """The command that was run, for a re-run; the flag goes first, where no ``--`` can hide it."""
    args = [arg for arg in argv if arg != "--accept-agreements"]
    return shlex.join([".venv/bin/python", "tools/deploy.py", *(["--accept-agreements"] if accept else []), *args])


# --- the run ---------------------------------------------------------------------------------


def preflight(
    client: Any, config: DeployConfig, region: str, *, accept_agreements: bool, argv: Sequence[str], out: TextIO
) -> int:
    """0 when every enabled model is ready in ``region``; else the exit status, after saying why."""
    rows = [availability(client, target) for target in targets(config)]
    print(f"Preflight: {len(rows)} models, Bedrock in {region}", file=out)
    print("(GetFoundationModelAvailability; an inference profile id is checked as its foundation model)\n", file=out)
    print("\n".join(table(rows)), file=out, flush=True)
    print(f"\n{provenance_line(config)}", file=out, flush=True)

    missing = [row for row in rows if row.verdict == NEEDS_AGREEMENT]
    # Nothing is subscribed while something else blocks the deployment: fix that first.
    accepting = accept_agreements and bool(missing) and not any(row.blockers for row in rows)
    if accepting:
        print("\nAccepting agreements:", file=out)
        for row in missing:
            print(f"  {accept(client, row.target)}", file=out, flush=True)
        again = {row.target: availability(client, row.target) for row in missing}
        rows = [again.get(row.target, row) for row in rows]
        print("\nAfter accepting:\n" + "\n".join(table(rows)), file=out, flush=True)

    if all(row.verdict == READY for row in rows):
        print("\nEvery model is ready.", file=out, flush=True)
        return 0
    print("\n" + "\n".join(advice(rows, region, argv, accepted=accepting)), file=out, flush=True)
    if any(row.verdict != PENDING for row in rows if row.verdict != READY):
        return EXIT_BLOCKED
    return EXIT_PENDING


def explain(error: Exception, region: str) -> str:
    """The stop message for an AWS error of the preflight's own calls."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(error, NoCredentialsError):
        return "deploy: no AWS credentials: configure the deployer's (aws configure, AWS_PROFILE or --profile)"
    if not isinstance(error, ClientError):
        return f"deploy: {error}"
    if error_code(error) in ("AccessDeniedException", "AccessDenied"):
        operation = error.operation_name
        subscribe = (
            "" if operation == "GetFoundationModelAvailability" else f" and {', '.join(MARKETPLACE_PERMISSIONS)}"
        )
        return (
            f"deploy: the deployer may not call bedrock:{operation} in {region} ({error_message(error)}). "
            f"Grant it bedrock:{operation}{subscribe}; the preflight calls {', '.join(PREFLIGHT_PERMISSIONS)}."
        )
    return f"deploy: Bedrock in {region} answered {error_code(error)} to {error.operation_name}: {error_message(error)}"


def cdk_deploy(cdk_args: Sequence[str], region: str, profile: str | None) -> int:
    command = ["npx", "cdk", "deploy", *cdk_args, *(["--profile", profile] if profile else [])]
    # cdk reads the region from the environment: the one the preflight checked, whatever set it.
    env = {**os.environ, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    print(f"\n$ {shlex.join(command)}", flush=True)
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    args, cdk_args = parse(argv)
    try:
        config = deployment_config(cdk_args)
        region = resolve_region(args.region, args.profile)
    except ValueError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Stop as stop:
        print(stop, file=sys.stderr)
        return stop.status
    # Bedrock is called where the stack says (README: bedrock_region, when set, is the stack's region).
    bedrock_region = config.bedrock_region or region
    try:
        client = bedrock_client(bedrock_region, args.profile)
        status = preflight(client, config, bedrock_region, accept_agreements=args.accept_agreements, argv=argv, out=out)
    except (ClientError, BotoCoreError) as error:
        print(explain(error, bedrock_region), file=sys.stderr)
        return EXIT_BLOCKED
    if status:
        print("deploy: stopped before cdk deploy (see above)", file=sys.stderr)
        return status
    if args.preflight_only:
        return 0
    return cdk_deploy(cdk_args, region, args.profile)


if __name__ == "__main__":
    sys.exit(main())
