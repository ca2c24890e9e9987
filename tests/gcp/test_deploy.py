"""The deploy script: its self-contained function folder, and its gcloud calls on new and ready projects."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions" / "gcp"))

import deploy  # noqa: E402


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    return deploy.stage(tmp_path_factory.mktemp("gcp") / "function")


def test_staged_folder_holds_the_function_the_package_and_pinned_requirements(staged):
    assert (staged / "main.py").read_text() == (ROOT / "functions" / "gcp" / "main.py").read_text()
    assert (staged / "vertex.py").is_file()
    assert (staged / "imagegen" / "customization.py").is_file()
    assert not list(staged.rglob("__pycache__"))
    requirements = (staged / "requirements.txt").read_text().split()
    assert sorted(r.split("==")[0] for r in requirements) == sorted(deploy.PACKAGES)
    top = (ROOT / "requirements.txt").read_text()
    assert all("==" in r and r in top for r in requirements)


def test_the_staged_function_imports_and_serves_without_the_repository(staged):
    code = """
import json, functions_framework, imagegen
app = functions_framework.create_app(target="customize", source="main.py")
response = app.test_client().post("/", data="{}", content_type="application/json")
print(json.dumps({"package": imagegen.__file__, "status": response.status_code, "body": response.get_json()}))
"""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=staged, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(staged))
    assert report["status"] == 400 and report["body"]["error"]["code"] == "invalid_request"


def test_deploy_commands_keep_the_function_private_with_a_dedicated_least_privilege_account(staged):
    steps = deploy.commands("my-project", "europe-west4", staged)
    deploy_step = next(step for step in steps if step[:3] == ["gcloud", "functions", "deploy"])
    account = "imagegen-customize@my-project.iam.gserviceaccount.com"

    assert "--gen2" in deploy_step and "--runtime=python312" in deploy_step
    assert "--no-allow-unauthenticated" in deploy_step and "--trigger-http" in deploy_step
    assert "--entry-point=customize" in deploy_step and f"--source={staged}" in deploy_step
    assert f"--service-account={account}" in deploy_step
    binding = next(step for step in steps if "add-iam-policy-binding" in step)
    assert "--role=roles/aiplatform.user" in binding and f"--member=serviceAccount:{account}" in binding


def test_dry_run_stages_and_prints_without_calling_gcloud(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(deploy, "STAGING", tmp_path / "staging")
    monkeypatch.setattr(deploy.subprocess, "run", lambda *a, **k: pytest.fail("gcloud must not run"))

    assert deploy.main(["--project", "p", "--region", "us-central1", "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "gcloud functions deploy imagegen-customize" in out
    assert (tmp_path / "staging" / "main.py").is_file()


def test_the_vertex_location_is_the_models_unless_one_is_given(staged):
    def variables(*args) -> str:
        deploy_step = next(step for step in deploy.commands(*args) if step[:3] == ["gcloud", "functions", "deploy"])
        return next(arg for arg in deploy_step if arg.startswith("--set-env-vars="))

    # The function runs in europe-west4, but Gemini 3.1 Flash Image is served only in global.
    assert variables("p", "europe-west4", staged) == "--set-env-vars=GOOGLE_CLOUD_PROJECT=p"
    assert variables("p", "europe-west4", staged, "us-central1", "imagen-3.0-capability-001") == (
        "--set-env-vars=GOOGLE_CLOUD_PROJECT=p,GOOGLE_CLOUD_LOCATION=us-central1,VERTEX_MODEL_ID=imagen-3.0-capability-001"
    )


# --- The deploy against a project: a stub `gcloud` on PATH, no network, no Google account -------
#
# Facts the scenarios encode, from Google's documentation:
# - A source deploy needs the Artifact Registry, Cloud Build, Cloud Run Admin and Cloud Logging APIs
#   ("Enable the Artifact Registry, Cloud Build, Cloud Run Admin API, and Cloud Logging APIs"):
#   https://cloud.google.com/run/docs/deploy-functions
# - Creating service accounts needs the IAM API ("Enable the IAM API"):
#   https://cloud.google.com/iam/docs/service-accounts-create
# - Since July 2024 "new projects deploying functions for the first time may be using a default
#   Cloud Build service account with insufficient permissions for building a function"; the fixes
#   are roles/cloudbuild.builds.builder or a custom build account passed with --build-service-account:
#   https://cloud.google.com/functions/docs/securing/build-custom-sa
# - "As a best practice, we recommend that you specify your own service account to run your builds":
#   https://cloud.google.com/build/docs/cloud-build-service-account
# - Scripts disable prompts with the global --quiet flag or the disable_prompts property:
#   https://cloud.google.com/sdk/docs/scripting-gcloud

STUB = """
import json, os, sys

argv = ["gcloud", *sys.argv[1:]]
with open(os.environ["GCLOUD_LOG"], "a") as log:
    log.write(json.dumps({"argv": argv, "prompts": os.environ.get("CLOUDSDK_CORE_DISABLE_PROMPTS")}) + "\\n")
with open(os.environ["GCLOUD_LOG"]) as log:
    seen = [json.loads(line)["argv"] for line in log]
with open(os.environ["GCLOUD_SCENARIO"]) as scenario:
    rules = json.load(scenario)
for rule in reversed(rules):  # the latest answer given for a command wins
    prefix = ["gcloud", *rule["argv"]]
    if argv[: len(prefix)] != prefix:
        continue
    if rule["times"] is not None and sum(call[: len(prefix)] == prefix for call in seen) > rule["times"]:
        continue
    sys.stdout.write(rule["stdout"])
    sys.stderr.write(rule["stderr"])
    sys.exit(rule["exit"])
"""

PROJECT = "my-project"
RUNTIME = "imagegen-customize@my-project.iam.gserviceaccount.com"
BUILDER = "imagegen-build@my-project.iam.gserviceaccount.com"
COMPUTE = "123456789012-compute@developer.gserviceaccount.com"
NOT_FOUND = "ERROR: (gcloud.iam.service-accounts.describe) NOT_FOUND: Unknown service account.\n"
# A new project starts with a few APIs on (these for example), none of the others the deploy needs.
DEFAULT_APIS = ("bigquery.googleapis.com", "logging.googleapis.com", "storage.googleapis.com")
READ = [
    "gcloud auth list --filter=status:ACTIVE '--format=value(account)' --quiet",
    "gcloud services list --enabled --project=my-project '--format=value(config.name)' --quiet",
    "gcloud projects get-iam-policy my-project --format=json --quiet",
]
DESCRIBE = [
    f"gcloud iam service-accounts describe {RUNTIME} --project=my-project '--format=value(email)' --quiet",
    f"gcloud iam service-accounts describe {BUILDER} --project=my-project '--format=value(email)' --quiet",
]
ENABLE = (
    "gcloud services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com"
    " artifactregistry.googleapis.com iam.googleapis.com cloudresourcemanager.googleapis.com"
    " aiplatform.googleapis.com --project=my-project --quiet"
)
CREATE = [
    "gcloud iam service-accounts create imagegen-customize --project=my-project"
    " '--display-name=serverless-imagegen customize' --quiet",
    "gcloud iam service-accounts create imagegen-build --project=my-project"
    " '--display-name=serverless-imagegen build' --quiet",
]
GRANT_RUNTIME = (
    f"gcloud projects add-iam-policy-binding my-project --member=serviceAccount:{RUNTIME}"
    " --role=roles/aiplatform.user --condition=None --quiet"
)
GRANT_BUILDER = (
    f"gcloud projects add-iam-policy-binding my-project --member=serviceAccount:{BUILDER}"
    " --role=roles/cloudbuild.builds.builder --condition=None --quiet"
)
GRANT_COMPUTE = (
    f"gcloud projects add-iam-policy-binding my-project --member=serviceAccount:{COMPUTE}"
    " --role=roles/cloudbuild.builds.builder --condition=None --quiet"
)


class FakeGcloud:
    """`gcloud` as an executable that logs every call and answers from a scenario of argv prefixes."""

    def __init__(self, directory: Path) -> None:
        self.bin = directory / "bin"
        self.bin.mkdir(parents=True)
        self.log = directory / "calls.jsonl"
        self.scenario = directory / "scenario.json"
        self.rules: list[dict] = []
        stub = self.bin / "gcloud"
        # -S: no site import, so each call starts in milliseconds.
        stub.write_text(f"#!{sys.executable} -S\n{STUB}")
        stub.chmod(0o755)
        self.log.touch()
        self.scenario.write_text("[]")

    def answer(self, *argv: str, stdout: str = "", stderr: str = "", exit: int = 0, times: int | None = None) -> None:
        self.rules.append({"argv": list(argv), "stdout": stdout, "stderr": stderr, "exit": exit, "times": times})
        self.scenario.write_text(json.dumps(self.rules))

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    @property
    def commands(self) -> list[str]:
        return [shlex.join(entry["argv"]) for entry in self.entries()]

    def policy(self, *grants: tuple[str, str]) -> None:
        bindings = [{"role": "roles/owner", "members": ["user:me@example.com"]}]
        bindings += [{"role": role, "members": [f"serviceAccount:{email}"]} for email, role in grants]
        self.answer("projects", "get-iam-policy", stdout=json.dumps({"bindings": bindings, "version": 1}))

    def new_project(self) -> None:
        self.answer("services", "list", stdout="\n".join(DEFAULT_APIS) + "\n")
        self.policy()
        self.answer("iam", "service-accounts", "describe", stderr=NOT_FOUND, exit=1)

    def ready_project(self) -> None:
        self.answer("services", "list", stdout="\n".join(sorted({*DEFAULT_APIS, *deploy.SERVICES})) + "\n")
        self.policy((RUNTIME, "roles/aiplatform.user"), (BUILDER, "roles/cloudbuild.builds.builder"))
        self.answer("iam", "service-accounts", "describe", stdout="found\n")


@pytest.fixture
def cloud(tmp_path, monkeypatch) -> FakeGcloud:
    fake = FakeGcloud(tmp_path / "gcloud")
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GCLOUD_LOG", str(fake.log))
    monkeypatch.setenv("GCLOUD_SCENARIO", str(fake.scenario))
    monkeypatch.setattr(deploy, "STAGING", tmp_path / "function")
    monkeypatch.setattr(deploy, "PROPAGATION_WAIT_SECONDS", 0)
    fake.answer("auth", "list", stdout="me@example.com\n")
    return fake


def deploy_step(tmp_path: Path, build: str = BUILDER) -> str:
    return shlex.join([
        "gcloud", "functions", "deploy", "imagegen-customize", "--gen2", "--runtime=python312", "--region=us-central1",
        "--project=my-project", f"--source={tmp_path / 'function'}", "--entry-point=customize", "--trigger-http",
        "--no-allow-unauthenticated", f"--service-account={RUNTIME}",
        f"--build-service-account=projects/my-project/serviceAccounts/{build}", "--memory=1Gi", "--timeout=300s",
        "--set-env-vars=GOOGLE_CLOUD_PROJECT=my-project", "--quiet",
    ])  # fmt: skip


def test_a_new_project_gets_apis_accounts_and_roles_before_the_function_is_deployed(cloud, tmp_path, capfd):
    cloud.new_project()

    assert deploy.main(["--project", PROJECT]) == 0

    # The IAM API is off until enabled, so the accounts are looked up right after enabling it.
    assert cloud.commands == [
        *READ, ENABLE, *DESCRIBE, *CREATE, GRANT_RUNTIME, GRANT_BUILDER, deploy_step(tmp_path),
    ]  # fmt: skip
    assert {entry["prompts"] for entry in cloud.entries()} == {"1"}
    out = capfd.readouterr().out
    assert re.search(r"API aiplatform\.googleapis\.com +disabled: will enable", out)
    assert re.search(rf"build account {BUILDER} +checked once the IAM API is enabled", out)
    assert out.index("preflight:") < out.index("+ gcloud services enable")


def test_a_rerun_on_a_ready_project_only_updates_the_function(cloud, tmp_path, capfd):
    cloud.ready_project()

    assert deploy.main(["--project", PROJECT]) == 0

    assert cloud.commands == [*READ, *DESCRIBE, deploy_step(tmp_path)]
    out = capfd.readouterr().out
    assert re.search(r"APIs +ok", out) and "will" not in out


def test_a_failing_step_stops_the_deploy_with_its_name_and_runs_nothing_after_it(cloud, tmp_path, capfd):
    cloud.new_project()
    denied = "ERROR: (gcloud.iam.service-accounts.create) PERMISSION_DENIED: Permission 'iam.serviceAccounts.create'\n"
    cloud.answer("iam", "service-accounts", "create", "imagegen-build", stderr=denied, exit=1)

    assert deploy.main(["--project", PROJECT]) == 1

    assert cloud.commands == [*READ, ENABLE, *DESCRIBE, *CREATE]
    err = capfd.readouterr().err
    assert "step failed (exit 1): gcloud iam service-accounts create imagegen-build" in err
    assert "PERMISSION_DENIED" in err


def test_an_account_lookup_that_fails_otherwise_than_not_found_stops_before_any_change(cloud, capfd):
    cloud.ready_project()
    denied = "ERROR: (gcloud.iam.service-accounts.describe) PERMISSION_DENIED: Permission 'iam.serviceAccounts.get'\n"
    cloud.answer("iam", "service-accounts", "describe", stderr=denied, exit=1)

    assert deploy.main(["--project", PROJECT]) == 1

    assert cloud.commands == [*READ, DESCRIBE[0]]
    assert f"could not look up {RUNTIME}" in capfd.readouterr().err


def test_a_new_account_not_yet_visible_to_iam_is_bound_on_a_retry(cloud, tmp_path):
    # Service account creation is eventually consistent: a binding right after it can fail once.
    cloud.new_project()
    missing = f"ERROR: INVALID_ARGUMENT: Service account {RUNTIME} does not exist.\n"
    cloud.answer("projects", "add-iam-policy-binding", PROJECT, f"--member=serviceAccount:{RUNTIME}",
                 stderr=missing, exit=1, times=1)  # fmt: skip

    assert deploy.main(["--project", PROJECT]) == 0

    assert cloud.commands[-4:] == [GRANT_RUNTIME, GRANT_RUNTIME, GRANT_BUILDER, deploy_step(tmp_path)]


def test_a_borrowed_build_account_lacking_the_build_role_stops_with_the_command_to_fix_it(cloud, capfd):
    # The Compute Engine default account, used by new projects, with its Editor grant removed by policy.
    cloud.ready_project()
    cloud.policy((RUNTIME, "roles/aiplatform.user"), (COMPUTE, "roles/viewer"))

    assert deploy.main(["--project", PROJECT, "--build-service-account", COMPUTE]) == 1

    # Only reads: the deploy neither grants nor deploys, and does not look up an account it does not own.
    assert cloud.commands == [*READ, DESCRIBE[0]]
    err = capfd.readouterr().err
    assert GRANT_COMPUTE in err and "--grant-build-role" in err and "Nothing was changed" in err


def test_grant_build_role_lets_the_deploy_grant_a_borrowed_build_account_its_role(cloud, tmp_path):
    cloud.ready_project()
    cloud.policy((RUNTIME, "roles/aiplatform.user"))

    assert deploy.main(["--project", PROJECT, "--build-service-account", COMPUTE, "--grant-build-role"]) == 0

    assert cloud.commands == [*READ, DESCRIBE[0], GRANT_COMPUTE, deploy_step(tmp_path, build=COMPUTE)]


def test_without_a_login_or_a_project_the_preflight_says_so_and_changes_nothing(cloud, capfd):
    cloud.answer("auth", "list", stdout="")
    cloud.answer("config", "get-value", "project", stderr="(unset)\n")

    # What `make deploy-gcp` passes when PROJECT is not set.
    assert deploy.main(["--project", ""]) == 1

    assert cloud.commands == [READ[0], "gcloud config get-value project --quiet"]
    err = capfd.readouterr().err
    assert "gcloud auth login" in err and "--project" in err
