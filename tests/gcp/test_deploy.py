"""The deploy script's staging step: a self-contained, importable function folder."""

from __future__ import annotations

import json
import os
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
