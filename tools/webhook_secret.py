"""A team's webhook signing secret, for the operator to hand to the team:
`.venv/bin/python tools/webhook_secret.py --team design [--stack ImageGen] [--region ...]`.

Each team's webhooks are signed with a secret derived from the deployment's (core/webhooks.py,
``team_key``): the team verifies its deliveries with it and cannot sign for another team. The
deployment's own team (``default``, the stack's key) uses the deployment's secret itself.

With the operator's AWS credentials it reads the deployed stack's ``WebhookSecretArn`` output and
the secret; with ``--local`` (or no deployed stack named) the running `make run`'s stack.json.
Prints the ``whsec_...`` secret alone, for a secrets manager or a pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "functions" / "handlers")]

from core.webhooks import secret_for  # noqa: E402 (the handler code, found through the path above)


def deployment_secret(stack: str, region: str | None) -> str:
    import boto3

    session = boto3.Session(region_name=region)
    described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    if "WebhookSecretArn" not in outputs:
        raise SystemExit(f"stack {stack} has no WebhookSecretArn output: it was deployed before webhooks")
    return session.client("secretsmanager").get_secret_value(SecretId=outputs["WebhookSecretArn"])["SecretString"]


def local_secret() -> str:
    folder = Path(os.environ.get("IMAGEGEN_LOCAL_DIR", ROOT / ".local"))
    info = folder / "stack.json"
    if not info.exists():
        raise SystemExit(f"no local stack: {info} does not exist (start it with `make run`)")
    return json.loads(info.read_text())["webhookSecret"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--team", required=True, help="the team (as `imagegen admin keys create --name` named it)")
    parser.add_argument("--stack", default="ImageGen", help="the deployed stack's name")
    parser.add_argument("--region", default=None)
    parser.add_argument("--local", action="store_true", help="the stack `make run` serves")
    args = parser.parse_args(argv)
    value = local_secret() if args.local else deployment_secret(args.stack, args.region)
    print(secret_for(value, args.team))
    return 0


if __name__ == "__main__":
    sys.exit(main())
