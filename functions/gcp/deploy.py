"""Deploy ``customize`` to Cloud Functions (2nd gen): stage a self-contained folder, then gcloud.

    python functions/gcp/deploy.py --project my-project --region us-central1 [--model ID] [--location L] [--dry-run]

The staged folder holds main.py, vertex.py, the vendored ``imagegen`` package and a pinned
requirements.txt. The function gets a dedicated service account with only
``roles/aiplatform.user`` (its aiplatform.endpoints.predict permission covers both
``generateContent`` and ``predict`` on Google's publisher models) and no unauthenticated access.
The Vertex location defaults to the model's own (``global`` for the Gemini default), not to the
region the function runs in.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
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


def commands(
    project: str, region: str, source: Path, location: str | None = None, model: str | None = None
) -> list[list[str]]:
    account = f"{SERVICE_ACCOUNT}@{project}.iam.gserviceaccount.com"
    env = {"GOOGLE_CLOUD_PROJECT": project, "GOOGLE_CLOUD_LOCATION": location, "VERTEX_MODEL_ID": model}
    variables = ",".join(f"{name}={value}" for name, value in env.items() if value)
    return [
        ["gcloud", "iam", "service-accounts", "create", SERVICE_ACCOUNT, f"--project={project}",
         "--display-name=serverless-imagegen customize"],
        ["gcloud", "projects", "add-iam-policy-binding", project, f"--member=serviceAccount:{account}",
         f"--role={ROLE}", "--condition=None"],
        ["gcloud", "functions", "deploy", FUNCTION_NAME, "--gen2", "--runtime=python312", f"--region={region}",
         f"--project={project}", f"--source={source}", "--entry-point=customize", "--trigger-http",
         "--no-allow-unauthenticated", f"--service-account={account}", "--memory=1Gi", "--timeout=300s",
         f"--set-env-vars={variables}"],
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", default="us-central1", help="where the function runs")
    parser.add_argument("--location", help="Vertex AI location (default: the model's, e.g. global)")
    parser.add_argument("--model", help="VERTEX_MODEL_ID (default: gemini-3.1-flash-image)")
    parser.add_argument("--dry-run", action="store_true", help="stage and print the gcloud commands only")
    args = parser.parse_args(argv)

    source = stage()
    print(f"staged {source}")
    steps = commands(args.project, args.region, source, args.location, args.model)
    if args.dry_run:
        for step in steps:
            print(" ".join(step))
        return 0
    if shutil.which("gcloud") is None:
        print("gcloud is not installed: https://cloud.google.com/sdk/docs/install", file=sys.stderr)
        return 1
    for step in steps:
        print("+", " ".join(step))
        # The service account and its binding may exist already from an earlier deploy.
        result = subprocess.run(step)
        if result.returncode != 0 and step[1] != "iam":
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
