"""Drop a file into the running local stack's trigger folder, as an upload to S3 would.

    python -m local.drop photo.png background-removal     # an image: run that task on it
    python -m local.drop request.json                      # a full request with "task"

Prints the job id the trigger derives, and where to read the job.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from . import ROOT


def main(argv: list[str]) -> int:
    if not argv or (not argv[0].endswith(".json") and len(argv) < 2):
        print(__doc__, file=sys.stderr)
        return 2
    import boto3

    from core.layout import TRIGGER_REQUESTS, TRIGGERS, derived_job_id

    state_dir = Path(os.environ.get("IMAGEGEN_LOCAL_DIR", ROOT / ".local"))
    info = json.loads((state_dir / "stack.json").read_text())
    path = Path(argv[0])
    key = f"{TRIGGER_REQUESTS}{path.name}" if path.suffix == ".json" else f"{TRIGGERS}{argv[1]}/{path.name}"
    s3 = boto3.client(
        "s3", endpoint_url=info["s3Endpoint"], region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    etag = s3.put_object(Bucket=info["inputBucket"], Key=key, Body=path.read_bytes())["ETag"].strip('"')
    job_id = derived_job_id(info["inputBucket"], key, etag)
    print(f"s3://{info['inputBucket']}/{key}")
    print(f"job {job_id}: curl -s {info['api']}/jobs/{job_id} -H 'x-api-key: {info['apiKey']}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
