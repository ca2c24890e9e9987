"""Runtime configuration: the environment variables the stack sets on each function.

Each setting names its variable once, here; ``infra/`` builds the environment with
``Settings.to_env`` and the functions read it with ``settings()``, so the two sides cannot
disagree on a name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

# mode auto: requests costing more pixels than this (numberOfImages x width x height, doubled
# for premium) run as an async job.
DEFAULT_ASYNC_THRESHOLD_PIXELS = 4 * 1024 * 1024
DEFAULT_PRESIGN_TTL_SECONDS = 3600
DEFAULT_UPLOAD_TTL_SECONDS = 900
# API Gateway's default integration timeout; the sync path must answer within it.
DEFAULT_SYNC_TIMEOUT_SECONDS = 29.0
# The model docs advise a read timeout of at least 300 s for large or many images: a job's call
# (trigger or state machine) may take that long.
LONG_READ_TIMEOUT_SECONDS = 300
# Who makes the images, as their content credentials (C2PA claim generator) and the OpenAPI document name it.
SERVICE_NAME = "serverless-imagegen"
SERVICE_VERSION = "1.0.0"
# An OpenAI model name mapped to this stands for the deployment's default model of the task.
TASK_DEFAULT = "*"
# OpenAI's image model names, so clients configured for OpenAI work unchanged; the deployment's
# IMAGEGEN_OPENAI_MODELS adds names or maps these to a model of its own.
DEFAULT_OPENAI_MODELS = dict.fromkeys(("gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "dall-e-3", "dall-e-2"),
                                      TASK_DEFAULT)  # fmt: skip


def _env(name: str, default: Any = None) -> Any:
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class Settings:
    output_bucket: str = _env("IMAGEGEN_OUTPUT_BUCKET", "")
    input_bucket: str = _env("IMAGEGEN_INPUT_BUCKET", "")
    state_machine_arn: str = _env("IMAGEGEN_STATE_MACHINE_ARN", "")
    # Bedrock's region may differ from the stack's: Nova Canvas is offered in only a few.
    bedrock_region: str = _env("IMAGEGEN_BEDROCK_REGION", "")
    # {"nova-canvas": "amazon.nova-canvas-v1:0", ...}: move a model to a successor id per deployment.
    model_ids: Mapping[str, str] = _env("IMAGEGEN_MODEL_IDS", None)
    # The models this deployment serves (IAM allows exactly these); empty: every Bedrock model.
    enabled_models: tuple[str, ...] = _env("IMAGEGEN_MODELS", ())
    # {"text-to-image": "stable-image-core", ...}: the model of a request that names none.
    default_models: Mapping[str, str] = _env("IMAGEGEN_DEFAULT_MODELS", None)
    # OpenAI model names callers send -> a served model ("*": the task's default model), on top
    # of DEFAULT_OPENAI_MODELS.
    openai_models: Mapping[str, str] = _env("IMAGEGEN_OPENAI_MODELS", None)
    async_threshold_pixels: int = _env("IMAGEGEN_ASYNC_THRESHOLD_PIXELS", DEFAULT_ASYNC_THRESHOLD_PIXELS)
    presign_ttl_seconds: int = _env("IMAGEGEN_PRESIGN_TTL_SECONDS", DEFAULT_PRESIGN_TTL_SECONDS)
    upload_ttl_seconds: int = _env("IMAGEGEN_UPLOAD_TTL_SECONDS", DEFAULT_UPLOAD_TTL_SECONDS)
    sync_timeout_seconds: float = _env("IMAGEGEN_SYNC_TIMEOUT_SECONDS", DEFAULT_SYNC_TIMEOUT_SECONDS)
    # Browser origins allowed to call the API ("*": any); empty: no CORS headers at all.
    cors_origins: tuple[str, ...] = _env("IMAGEGEN_CORS_ORIGINS", ())
    # The DynamoDB table of teams, budgets and usage (core/budgets.py); empty: nothing is counted.
    spend_table: str = _env("IMAGEGEN_SPEND_TABLE", "")
    # The DynamoDB table of Idempotency-Key records (core/idempotency.py); empty: keys are refused.
    idempotency_table: str = _env("IMAGEGEN_IDEMPOTENCY_TABLE", "")
    # Content credentials (core/provenance.py): "sign" every stored image with a C2PA manifest,
    # or "off" (also when unset); the KMS key (ARN) that signs, the Secrets Manager secret (ARN)
    # holding the certificate chain (PEM), and an RFC 3161 timestamp authority (none: untimestamped).
    provenance: str = _env("IMAGEGEN_PROVENANCE", "off")
    signing_key: str = _env("IMAGEGEN_SIGNING_KEY", "")
    certificate_secret: str = _env("IMAGEGEN_CERTIFICATE_SECRET", "")
    timestamp_url: str = _env("IMAGEGEN_TIMESTAMP_URL", "")
    # The SQS queue of webhook deliveries (core/webhooks.py); empty: requests with a webhook are refused.
    webhook_queue_url: str = _env("IMAGEGEN_WEBHOOK_QUEUE_URL", "")
    # The Secrets Manager secret webhooks are signed with (the delivery function only).
    webhook_secret_arn: str = _env("IMAGEGEN_WEBHOOK_SECRET_ARN", "")
    # Webhooks to loopback receivers, over http too: the local stack's only, never deployed.
    webhook_allow_loopback: bool = _env("IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK", False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"], "").strip()
            if raw:
                values[f.name] = _parse(f.name, f.metadata["env"], raw, f.default)
        return cls(**values)

    def to_env(self, names: Iterable[str] | None = None) -> dict[str, str]:
        """The environment for a function that needs the settings ``names`` (None: all)."""
        wanted = None if names is None else set(names)
        env = {}
        for f in fields(self):
            if wanted is not None and f.name not in wanted:
                continue
            value = getattr(self, f.name)
            if value is None or value == "" or value == () or value is False:
                continue  # unset: the function uses the default
            if isinstance(value, Mapping):
                env[f.metadata["env"]] = json.dumps(dict(value), sort_keys=True)
            elif isinstance(value, tuple):
                env[f.metadata["env"]] = ",".join(value)
            else:
                env[f.metadata["env"]] = str(value)
        return env

    @property
    def served_models(self) -> tuple[str, ...]:
        """The models this deployment serves: the enabled ones, else every Bedrock model."""
        from imagegen.registry import BEDROCK_MODELS

        return self.enabled_models or BEDROCK_MODELS

    @property
    def served_tasks(self) -> frozenset[str]:
        """The tasks the served models perform: each has its route in the deployed API."""
        from imagegen.registry import MODELS

        return frozenset(task for name in self.served_models for task in MODELS[name].tasks)

    @property
    def openai_aliases(self) -> dict[str, str]:
        return {**DEFAULT_OPENAI_MODELS, **(self.openai_models or {})}

    @classmethod
    def env_name(cls, name: str) -> str:
        return next(f.metadata["env"] for f in fields(cls) if f.name == name)


def _parse(name: str, env: str, raw: str, default: Any) -> Any:
    try:
        if name in ("model_ids", "default_models", "openai_models"):
            value = json.loads(raw)
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ValueError("must be a JSON object of names to strings")
            return value
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError("must be true or false")
            return raw.lower() == "true"
        if not isinstance(default, int | float):
            return raw
        value = type(default)(raw)
        if value <= 0:
            raise ValueError("must be positive")
        return value
    except ValueError as exc:
        # A misconfigured deployment should fail loudly at the first request, naming the variable.
        raise RuntimeError(f"environment variable {env}={raw!r}: {exc}") from None


@cache
def settings() -> Settings:
    """The settings of this container, read once."""
    return Settings.from_env(os.environ)
