"""Drop a file into the running local stack's trigger folder, as an upload to S3 would.

    python -m local.drop photo.png background-removal     # an image: run that task on it
    python -m local.drop request.json                      # a full request with "task"

Prints the job id the trigger derives, and where to read the job.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import ROOT

START_IT = "start it with `make run` (and keep it running), then drop the file again"


class NotRunning(Exception):
    pass


def main(argv: list[str]) -> int:
    if not argv or (not argv[0].endswith(".json") and len(argv) < 2):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"local.drop: {path}: no such file", file=sys.stderr)
        return 2
    state_dir = Path(os.environ.get("IMAGEGEN_LOCAL_DIR", ROOT / ".local"))
    try:
        info = running_stack(state_dir / "stack.json")
    except NotRunning as error:
        print(f"local.drop: {error}", file=sys.stderr)
        return 1
    import boto3
    from botocore.exceptions import EndpointConnectionError

    from core.layout import TRIGGER_REQUESTS, TRIGGERS, derived_job_id

    key = f"{TRIGGER_REQUESTS}{path.name}" if path.suffix == ".json" else f"{TRIGGERS}{argv[1]}/{path.name}"
    s3 = boto3.client(
        "s3", endpoint_url=info["s3Endpoint"], region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    try:
        etag = s3.put_object(Bucket=info["inputBucket"], Key=key, Body=path.read_bytes())["ETag"].strip('"')
    except EndpointConnectionError:  # it stopped since the check
        print(f"local.drop: the local stack stopped: {START_IT}", file=sys.stderr)
        return 1
    job_id = derived_job_id(info["inputBucket"], key, etag)
    print(f"s3://{info['inputBucket']}/{key}")
    print(f"job {job_id}: curl -s {info['api']}/jobs/{job_id} -H 'x-api-key: {info['apiKey']}'")
    return 0


def running_stack(stack_file: Path) -> dict[str, Any]:
    """What stack.json says of the running stack; NotRunning when there is none. The file is
    left behind by a stack that was killed rather than stopped, so its servers must answer too."""
    try:
        info = json.loads(stack_file.read_text())
        endpoints = [info["api"], info["s3Endpoint"]]
    except FileNotFoundError:
        raise NotRunning(f"the local stack is not running (there is no {stack_file}): {START_IT}") from None
    except (ValueError, KeyError, TypeError):
        raise NotRunning(f"the local stack is not running ({stack_file} is not a stack's): {START_IT}") from None
    for endpoint in endpoints:
        if not _answers(endpoint):
            raise NotRunning(
                f"the local stack is not running ({stack_file} is left from an earlier run: nothing answers at "
                f"{endpoint}): {START_IT}"
            )
    return info


def _answers(url: str) -> bool:
    address = urlsplit(url)
    try:
        with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
