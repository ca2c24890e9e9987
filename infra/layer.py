"""The payload layer: ``functions/imagegen`` plus its dependencies, built for python3.12 on arm64.

Built without Docker: pip fetches the manylinux aarch64 wheels (``--platform``,
``--only-binary``) into a folder keyed by a hash of what goes in, so repeated synths reuse
it. boto3 is not bundled: the Lambda runtime provides it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from . import FUNCTIONS_DIR, ROOT
from .defaults import ARCHITECTURE, RUNTIME

# What the layer installs; versions come from requirements.txt, the one place they are pinned.
LAYER_PACKAGES = ("pydantic", "pillow", "aws-lambda-powertools")
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.12"
CACHE_DIR = ROOT / ".build" / "layer"


def layer_requirements() -> list[str]:
    pins = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("==")[0].split("[")[0].strip().lower()
        if name in LAYER_PACKAGES:
            pins.append(line.strip())
    missing = set(LAYER_PACKAGES) - {pin.split("==")[0].lower() for pin in pins}
    if missing:
        raise RuntimeError(f"requirements.txt does not pin {', '.join(sorted(missing))}")
    return pins


def _sources() -> list[Path]:
    return sorted(p for p in (FUNCTIONS_DIR / "imagegen").rglob("*.py"))


def layer_hash(pins: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (*pins, *PLATFORMS, PYTHON_VERSION):
        digest.update(part.encode() + b"\0")
    for path in _sources():
        digest.update(str(path.relative_to(FUNCTIONS_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def build_layer(cache_dir: Path = CACHE_DIR) -> tuple[Path, str]:
    """The layer folder (``python/...``) and its hash; built once per distinct content."""
    pins = layer_requirements()
    key = layer_hash(pins)
    target = cache_dir / key
    if (target / ".complete").exists():
        return target, key
    # Each process stages its own build: two synths at once (a CLI synth beside a test) never
    # write into, or delete, the other's folder.
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".partial", dir=cache_dir))
    site = staging / "python"
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(site), "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--only-binary=:all:", *platforms, *pins,
        ],
        check=True,
    )  # fmt: skip
    shutil.copytree(FUNCTIONS_DIR / "imagegen", site / "imagegen", ignore=shutil.ignore_patterns("__pycache__"))
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache)
    (staging / ".complete").write_text(key)
    if target.exists() and not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)  # what a build that died left behind
    try:
        staging.rename(target)
    except OSError:  # another process finished the same build first: its folder is as good
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / ".complete").exists():
            raise
    return target, key


class PayloadLayer(Construct):
    """``imagegen`` with pydantic, Pillow and Powertools (Idempotency-Key records) for every task function."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        folder, key = build_layer()
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            # The content hash is ours: hashing ~30 MB of wheels on every synth would be slow.
            code=lambda_.Code.from_asset(
                str(folder), asset_hash=key, asset_hash_type=AssetHashType.CUSTOM, exclude=[".complete"]
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="imagegen payload builders with pydantic, Pillow and Powertools (python3.12, arm64)",
        )
