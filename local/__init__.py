"""The offline local stack: ``python -m local`` (``make run``).

The same handlers as in the cloud, reached through real boto3 clients pointed at loopback: a
moto server for S3, SQS, Step Functions, DynamoDB, API Gateway, KMS and Secrets Manager, and
emulators of Bedrock-runtime and Vertex AI backed by a deterministic preview engine. The
gateway checks callers against the API keys and usage plans in moto's API Gateway, which
`imagegen admin keys` manages. Images are signed (content credentials) with a KMS key in moto
and a chain from a CA made at start (local/provenance.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "functions", ROOT / "functions" / "handlers", ROOT / "functions" / "gcp"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))
