"""Deploy ``customize`` to Cloud Functions (2nd gen): stage a self-contained folder, then gcloud.

    python functions/gcp/deploy.py [--project ID] [--region R] [--model ID] [--location L]
        [--build-service-account EMAIL [--grant-build-role]] [--dry-run]

The staged folder holds main.py, vertex.py, the vendored ``imagegen`` package and a pinned
requirements.txt. The function gets a dedicated service account with only
``roles/aiplatform.user`` (its aiplatform.endpoints.predict permission covers both
``generateContent`` and ``predict`` on Google's publisher models) and no unauthenticated access.
The Vertex location defaults to the model's own (``global`` for the Gemini default), not to the
region the function runs in.

A first deploy in a new project (with billing linked) needs nothing done by hand: a read-only
preflight prints what is missing (gcloud login, project, disabled APIs, service accounts, roles),
then the deploy enables the APIs, creates the accounts, grants the roles and deploys. A re-run
finds everything in place and only updates the function. Every gcloud call is non-interactive;
the first failing call stops the deploy and is named in the error.

Builds run as a service account of their own, ``imagegen-build`` with
``roles/cloudbuild.builds.builder``, passed with ``--build-service-account``. Google recommends
exactly that ("As a best practice, we recommend that you specify your own service account to run
your builds", https://cloud.google.com/build/docs/cloud-build-service-account), and it removes the
usual first-deploy failure: since July 2024 new projects build with a default account "with
insufficient permissions for building a function"
(https://cloud.google.com/functions/docs/securing/build-custom-sa), typically the Compute Engine
default account with its Editor grant removed by organization policy. The role is the one Cloud
Build gives its own legacy account and the one that page says to add to the default account.
``--build-service-account EMAIL`` builds with an account you bring instead (the Compute Engine
default one, say); the deploy never changes the roles of an account it did not create unless
``--grant-build-role`` says so, and otherwise stops before changing anything, printing the command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STAGING = ROOT / ".build" / "gcp-function"
SOURCES = ("main.py", "vertex.py")
# What the function imports; versions come from requirements.txt, the one place they are pinned.
PACKAGES = ("functions-framework", "google-auth", "requests", "pydantic")
FUNCTION_NAME = "imagegen-customize"
SERVICE_ACCOUNT = "imagegen-customize"
ROLE = "roles/aiplatform.user"
BUILD_ACCOUNT = "imagegen-build"
BUILD_ROLE = "roles/cloudbuild.builds.builder"
# Builds worked with Editor until organization policies began removing it, so it suffices too.
BUILD_ROLES = frozenset({BUILD_ROLE, "roles/editor", "roles/owner"})
# What a 2nd-gen function built from source and calling Vertex AI needs: Google's list for
# deploying functions (Artifact Registry, Cloud Build, Cloud Run Admin, Logging;
# https://cloud.google.com/run/docs/deploy-functions), the Cloud Functions API that
# `gcloud functions deploy` calls, IAM for the service accounts, Resource Manager for the project
# IAM policy, and Vertex AI for the function itself. Enabling is idempotent.
SERVICES = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "logging.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "aiplatform.googleapis.com",
)
# A new service account can take a while to be visible to IAM policy writes (eventual consistency).
PROPAGATION_ATTEMPTS = 3
PROPAGATION_WAIT_SECONDS = 10.0


class DeployError(Exception):
    """A reason to stop, worded for the operator."""


@dataclass(frozen=True)
class Account:
    """A service account the deploy relies on and the project role it needs."""

    email: str
    role: str
    purpose: str
    sufficient: frozenset[str]
    # Set when the deploy owns the account: it creates it and grants its role unasked.
    name: str | None = None
    display_name: str = ""

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.email}"


@dataclass(frozen=True)
class State:
    """What the project already has, as read by the preflight."""

    disabled: tuple[str, ...]
    roles: dict[str, frozenset[str]]
    # None while the IAM API is disabled: the account cannot be looked up until it is enabled.
    exists: dict[str, bool | None]

    def has_role(self, account: Account) -> bool:
        return bool(self.roles.get(account.member, frozenset()) & account.sufficient)


def pinned(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("==")[0].split("[")[0].strip().lower()
        if name in packages and "==" in line:
            pins[name] = line.strip()
    missing = sorted(set(packages) - set(pins))
    if missing:
        raise RuntimeError(f"requirements.txt does not pin {', '.join(missing)}")
    return [pins[name] for name in packages]


def stage(dest: Path | None = None) -> Path:
    """A folder Cloud Functions can build: the function, imagegen, requirements.txt."""
    dest = dest or STAGING
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in SOURCES:
        shutil.copy2(HERE / name, dest / name)
    shutil.copytree(ROOT / "functions" / "imagegen", dest / "imagegen", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "requirements.txt").write_text("\n".join(pinned()) + "\n")
    return dest


# --- The accounts and the commands -------------------------------------------------------------


def accounts(project: str, build_service_account: str | None = None) -> tuple[Account, Account]:
    """The function's runtime account and the account its builds run as."""
    runtime = Account(
        email=f"{SERVICE_ACCOUNT}@{project}.iam.gserviceaccount.com",
        role=ROLE,
        purpose="runtime",
        sufficient=frozenset({ROLE}),
        name=SERVICE_ACCOUNT,
        display_name="serverless-imagegen customize",
    )
    if build_service_account:
        return runtime, Account(email=build_service_account, role=BUILD_ROLE, purpose="build", sufficient=BUILD_ROLES)
    build = Account(
        email=f"{BUILD_ACCOUNT}@{project}.iam.gserviceaccount.com",
        role=BUILD_ROLE,
        purpose="build",
        sufficient=BUILD_ROLES,
        name=BUILD_ACCOUNT,
        display_name="serverless-imagegen build",
    )
    return runtime, build


def gcloud(*args: str) -> list[str]:
    # --quiet: gcloud otherwise prompts, e.g. to enable an API (https://cloud.google.com/sdk/docs/scripting-gcloud).
    return ["gcloud", *args, "--quiet"]


def enable_command(project: str, services: tuple[str, ...]) -> list[str]:
    return gcloud("services", "enable", *services, f"--project={project}")


def create_command(project: str, account: Account) -> list[str]:
    assert account.name, "the deploy creates only its own accounts"
    return gcloud(
        "iam", "service-accounts", "create", account.name, f"--project={project}",
        f"--display-name={account.display_name}",
    )  # fmt: skip


def grant_command(project: str, account: Account) -> list[str]:
    # --condition=None: an unconditional binding, and no prompt when the policy has conditional ones.
    return gcloud(
        "projects", "add-iam-policy-binding", project, f"--member={account.member}", f"--role={account.role}",
        "--condition=None",
    )  # fmt: skip


def deploy_command(
    project: str, region: str, source: Path, runtime: Account, build: Account,
    location: str | None = None, model: str | None = None,
) -> list[str]:  # fmt: skip
    env = {"GOOGLE_CLOUD_PROJECT": project, "GOOGLE_CLOUD_LOCATION": location, "VERTEX_MODEL_ID": model}
    variables = ",".join(f"{name}={value}" for name, value in env.items() if value)
    # `functions deploy` creates the function or updates it in place, so a re-run is an update.
    return gcloud(
        "functions", "deploy", FUNCTION_NAME, "--gen2", "--runtime=python312", f"--region={region}",
        f"--project={project}", f"--source={source}", "--entry-point=customize", "--trigger-http",
        "--no-allow-unauthenticated", f"--service-account={runtime.email}",
        f"--build-service-account=projects/{project}/serviceAccounts/{build.email}",
        "--memory=1Gi", "--timeout=300s", f"--set-env-vars={variables}",
    )  # fmt: skip


def to_create(team: tuple[Account, ...], state: State) -> list[Account]:
    return [account for account in team if account.name and state.exists.get(account.email) is not True]


def to_grant(team: tuple[Account, ...], state: State, grant_build_role: bool = False) -> list[Account]:
    missing = [account for account in team if not state.has_role(account)]
    return [account for account in missing if account.name or grant_build_role]


def fresh(team: tuple[Account, ...]) -> State:
    return State(SERVICES, {}, {account.email: False for account in team if account.name})


def commands(
    project: str, region: str, source: Path, location: str | None = None, model: str | None = None,
    build_service_account: str | None = None, grant_build_role: bool = False,
) -> list[list[str]]:  # fmt: skip
    """Every change a new project needs, in order; a run against a real project skips what exists."""
    team = accounts(project, build_service_account)
    state = fresh(team)
    return [
        enable_command(project, state.disabled),
        *(create_command(project, account) for account in to_create(team, state)),
        *(grant_command(project, account) for account in to_grant(team, state, grant_build_role)),
        deploy_command(project, region, source, *team, location, model),
    ]


# --- Reading the project (the preflight changes nothing) ---------------------------------------


def environment() -> dict[str, str]:
    # The property behind --quiet, for any prompt a flag does not reach.
    return {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}


def query(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(gcloud(*args), capture_output=True, text=True, env=environment(), check=False)


def read(*args: str, what: str) -> str:
    """The output of a read-only gcloud call, or a DeployError naming it."""
    result = query(*args)
    if result.returncode != 0:
        detail = result.stderr.strip() or f"exit {result.returncode}"
        raise DeployError(f"could not read {what} ({shlex.join(gcloud(*args))}): {detail}")
    return result.stdout


def active_account() -> str | None:
    listed = query("auth", "list", "--filter=status:ACTIVE", "--format=value(account)")
    if listed.returncode != 0:
        return None
    return listed.stdout.strip() or None


def configured_project() -> str | None:
    value = query("config", "get-value", "project").stdout.strip()
    return value if value and value != "(unset)" else None


def enabled_services(project: str) -> set[str]:
    listed = read("services", "list", "--enabled", f"--project={project}", "--format=value(config.name)",
                  what="the enabled APIs")  # fmt: skip
    return set(listed.split())


def project_roles(project: str) -> dict[str, frozenset[str]]:
    """Each member's unconditional roles: a conditional binding may not apply to a build."""
    policy = json.loads(read("projects", "get-iam-policy", project, "--format=json", what="the IAM policy") or "{}")
    roles: dict[str, set[str]] = {}
    for binding in policy.get("bindings", []):
        if "condition" in binding:
            continue
        for member in binding.get("members", []):
            roles.setdefault(member, set()).add(binding["role"])
    return {member: frozenset(granted) for member, granted in roles.items()}


def account_exists(project: str, account: Account) -> bool:
    result = query("iam", "service-accounts", "describe", account.email, f"--project={project}",
                   "--format=value(email)")  # fmt: skip
    if result.returncode == 0:
        return True
    # Only "not found" means create it; a permission error or anything else must stop the deploy.
    if "NOT_FOUND" in result.stderr:
        return False
    raise DeployError(
        f"could not look up {account.email} (gcloud iam service-accounts describe): {result.stderr.strip()}"
    )


def inspect(project: str, team: tuple[Account, ...]) -> State:
    enabled = enabled_services(project)
    disabled = tuple(service for service in SERVICES if service not in enabled)
    roles = project_roles(project)
    iam_on = "iam.googleapis.com" in enabled
    exists = {account.email: account_exists(project, account) if iam_on else None for account in team if account.name}
    return State(disabled, roles, exists)


# --- Reporting ----------------------------------------------------------------------------------


def account_finding(account: Account, state: State) -> str:
    if not account.name:
        return "yours, used as is"
    known = state.exists.get(account.email)
    if known is None:
        return "checked once the IAM API is enabled; created if missing"
    return "ok" if known else "missing: will create"


def role_finding(account: Account, state: State, grant_build_role: bool) -> str:
    if state.has_role(account):
        return "ok"
    if account.name or grant_build_role:
        return "missing: will grant"
    return "MISSING: not granted without --grant-build-role"


def report(project: str, user: str, team: tuple[Account, ...], state: State, grant_build_role: bool) -> None:
    rows = [("gcloud account", user), ("project", project)]
    rows += [(f"API {service}", "disabled: will enable") for service in state.disabled] or [("APIs", "ok")]
    for account in team:
        rows.append((f"{account.purpose} account {account.email}", account_finding(account, state)))
        rows.append((f"  {account.role}", role_finding(account, state, grant_build_role)))
    width = max(len(subject) for subject, _ in rows)
    print("preflight:")
    for subject, finding in rows:
        print(f"  {subject:<{width}}  {finding}")


def refusal(project: str, refused: list[Account]) -> str:
    lines = [
        f"the build account {account.email} lacks {account.role}, which Cloud Build needs to build the function "
        "(https://cloud.google.com/functions/docs/securing/build-custom-sa). Grant it:\n  "
        + shlex.join(grant_command(project, account))
        for account in refused
    ]
    return "\n".join([*lines, "or re-run with --grant-build-role. Nothing was changed."])


# --- Changing the project -----------------------------------------------------------------------


def run(step: list[str]) -> None:
    print("+", shlex.join(step), flush=True)
    returncode = subprocess.run(step, env=environment(), check=False).returncode
    if returncode != 0:
        raise DeployError(
            f"step failed (exit {returncode}): {shlex.join(step)}\n"
            "The steps before it took effect and nothing after it ran; fix the cause above and re-run "
            "(finished steps are skipped)."
        )


def grant(project: str, account: Account, created: bool) -> None:
    """Bind the role; an account created moments ago may need a few seconds to be bindable."""
    attempts = PROPAGATION_ATTEMPTS if created else 1
    for attempt in range(1, attempts + 1):
        try:
            run(grant_command(project, account))
            return
        except DeployError:
            if attempt == attempts:
                raise
            print(f"{account.email} was just created; retrying in {PROPAGATION_WAIT_SECONDS:g} s", flush=True)
            time.sleep(PROPAGATION_WAIT_SECONDS)


def enable_apis(project: str, team: tuple[Account, ...], state: State) -> State:
    """Enable the disabled APIs, then look up the accounts that could not be looked up without IAM."""
    run(enable_command(project, state.disabled))
    exists = dict(state.exists)
    for account in team:
        if account.name and exists.get(account.email) is None:
            exists[account.email] = account_exists(project, account)
    return State((), state.roles, exists)


def apply(project: str, team: tuple[Account, ...], state: State, grant_build_role: bool, step: list[str]) -> None:
    if state.disabled:
        state = enable_apis(project, team, state)
    created = to_create(team, state)
    for account in created:
        run(create_command(project, account))
    for account in to_grant(team, state, grant_build_role):
        grant(project, account, account in created)
    run(step)


def deploy(args: argparse.Namespace, source: Path) -> None:
    if shutil.which("gcloud") is None:
        raise DeployError("gcloud is not installed: https://cloud.google.com/sdk/docs/install")
    user = active_account()
    project = args.project or configured_project()
    if not user or not project:
        missing = []
        if not user:
            missing.append("gcloud account: none is logged in; run `gcloud auth login`")
        if not project:
            missing.append("project: none given; pass --project (make deploy-gcp PROJECT=...)")
        raise DeployError("preflight:\n  " + "\n  ".join(missing))
    team = accounts(project, args.build_service_account)
    state = inspect(project, team)
    report(project, user, team, state, args.grant_build_role)
    refused = [account for account in team if not state.has_role(account) and not account.name]
    if refused and not args.grant_build_role:
        raise DeployError(refusal(project, refused))
    step = deploy_command(project, args.region, source, *team, args.location, args.model)
    apply(project, team, state, args.grant_build_role, step)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="Google Cloud project ID (default: gcloud config get-value project)")
    parser.add_argument("--region", default="us-central1", help="where the function runs")
    parser.add_argument("--location", help="Vertex AI location (default: the model's, e.g. global)")
    parser.add_argument("--model", help="VERTEX_MODEL_ID (default: gemini-3.1-flash-image)")
    parser.add_argument(
        "--build-service-account", metavar="EMAIL",
        help=f"build with this existing account instead of creating {BUILD_ACCOUNT}",
    )  # fmt: skip
    parser.add_argument(
        "--grant-build-role", action="store_true",
        help=f"grant {BUILD_ROLE} to --build-service-account if it lacks it (else the deploy stops)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="stage and print the gcloud commands only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    source = stage()
    print(f"staged {source}")
    if args.dry_run:
        project = args.project or "PROJECT_ID"
        print("# for a new project; a real run reads the project first and skips what is in place")
        steps = commands(project, args.region, source, args.location, args.model,
                         args.build_service_account, args.grant_build_role)  # fmt: skip
        for step in steps:
            print(shlex.join(step))
        return 0
    try:
        deploy(args, source)
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
