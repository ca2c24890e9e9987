"""The deployment's configuration: one frozen dataclass, read from cdk context.

Defaults live in ``cdk.json``; override any of them with ``cdk deploy -c key=value``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from core.config import TASK_DEFAULT
from core.provenance import MODES as PROVENANCE_MODES
from imagegen.registry import BEDROCK_MODELS, DEFAULT_MODELS, MODELS, TASKS

from . import ROOT
from .defaults import LOG_LEVELS, LOG_RETENTION

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ORIGIN = re.compile(r"\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?")
_TIMESTAMP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/\S*)?")


@dataclass(frozen=True, kw_only=True)
class DeployConfig:
    # Bedrock's region; empty: the stack's own. Nova Canvas is offered in only a few regions.
    bedrock_region: str
    # The models this deployment serves; IAM allows exactly their ids.
    models: tuple[str, ...]
    # Per-model id overrides, e.g. {"titan-image-v2": "<successor id>"}.
    model_ids: Mapping[str, str]
    # The model of a request that names none, per task; tasks left out get the registry's
    # default when that model is enabled, else the first enabled model that serves the task.
    default_models: Mapping[str, str]
    # OpenAI model names clients send -> an enabled model, or "*" for the task's default; added
    # to the built-in names (gpt-image-1, dall-e-3, ...), which all mean "*".
    openai_models: Mapping[str, str]
    async_threshold_pixels: int
    presign_ttl_seconds: int
    upload_ttl_seconds: int
    output_retention_days: int
    # Async intermediates (jobs/) and unused uploads (uploads/) expire after this many days.
    scratch_retention_days: int
    throttle_rate_limit: float
    throttle_burst_limit: int
    quota_per_day: int
    # Concurrent trigger workers; Bedrock's image quotas are low, so keep it small.
    trigger_max_concurrency: int
    log_retention_days: int
    # Every function's application log level (Lambda's JSON logging): DEBUG adds prompts.
    log_level: str
    # True: callers sign requests with IAM (SigV4) instead of sending an API key.
    iam_auth: bool
    # Browser origins that may call the API and fetch its images ("*": any); none by default.
    cors_origins: tuple[str, ...]
    # Where alarm notifications go (an SNS e-mail subscription, confirmed from the first mail); none by default.
    alarm_email: str
    # True: deploy even where the registry does not list an enabled model's region (an account
    # served elsewhere, or a registry older than Bedrock's region list).
    allow_unlisted_regions: bool
    # Content credentials: "sign" every stored image with a C2PA manifest (a KMS key and a secret for
    # its certificate chain are made; signing starts once `make provenance-cert` stores a chain), or "off".
    provenance: str
    # An RFC 3161 timestamp authority for the signatures (e.g. "http://timestamp.digicert.com"); none by default.
    provenance_timestamp_url: str

    def __post_init__(self) -> None:
        unknown = sorted(set(self.models) - set(BEDROCK_MODELS))
        if unknown or not self.models:
            raise ValueError(f"models: {unknown or 'none'} — choose from {', '.join(BEDROCK_MODELS)}")
        stray = sorted(set(self.model_ids) - set(self.models))
        if stray:
            raise ValueError(f"model_ids: {', '.join(stray)} not in models")
        for task, model in self.default_models.items():
            if task not in TASKS:
                raise ValueError(f"default_models: {task} is not a task ({', '.join(TASKS)})")
            if model not in self.models or task not in MODELS[model].tasks:
                serving = ", ".join(name for name in self.models if task in MODELS[name].tasks) or "none"
                raise ValueError(f"default_models: {task}={model} — an enabled model that serves it: {serving}")
        for name, model in self.openai_models.items():
            if model != TASK_DEFAULT and model not in self.models:
                raise ValueError(f"openai_models: {name}={model} — map it to an enabled model or to {TASK_DEFAULT!r}")
        if not 2 <= self.trigger_max_concurrency <= 1000:
            raise ValueError("trigger_max_concurrency: SQS event sources take 2 to 1000")
        if self.upload_ttl_seconds > 7 * 24 * 3600 or self.presign_ttl_seconds > 7 * 24 * 3600:
            raise ValueError("presigned URLs live at most 7 days (SigV4)")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level: one of {', '.join(LOG_LEVELS)}")
        if self.log_retention_days not in LOG_RETENTION:
            raise ValueError(f"log_retention_days: CloudWatch Logs takes one of {sorted(LOG_RETENTION)}")
        if self.output_retention_days < 1 or self.scratch_retention_days < 1:
            raise ValueError("retention days must be at least 1")
        if self.alarm_email and not _EMAIL.fullmatch(self.alarm_email):
            raise ValueError(f"alarm_email: {self.alarm_email!r} is not an e-mail address")
        if self.provenance not in PROVENANCE_MODES:
            raise ValueError(f"provenance: one of {', '.join(PROVENANCE_MODES)}, got {self.provenance!r}")
        if self.provenance_timestamp_url and not _TIMESTAMP_URL.fullmatch(self.provenance_timestamp_url):
            raise ValueError(f"provenance_timestamp_url: {self.provenance_timestamp_url!r} is not an http(s) URL")
        malformed = [origin for origin in self.cors_origins if not _ORIGIN.fullmatch(origin)]
        if malformed or ("*" in self.cors_origins and len(self.cors_origins) > 1):
            raise ValueError(
                f"cors_origins: {malformed or list(self.cors_origins)} — give origins such as "
                '"https://app.example.com" (scheme, host, optional port; no path), or "*" alone'
            )

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the enabled models serve: each gets its route and Lambda."""
        return tuple(task for task in TASKS if any(task in MODELS[name].tasks for name in self.models))

    def default_model(self, task: str) -> str:
        """The model a request for ``task`` that names none gets in this deployment."""
        if task in self.default_models:
            return self.default_models[task]
        if DEFAULT_MODELS[task] in self.models:
            return DEFAULT_MODELS[task]
        return next(name for name in self.models if task in MODELS[name].tasks)

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeployConfig:
        """Read every field from cdk context (``node.try_get_context``); a missing key is an error."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = get(f.name)
            if raw is None:
                raise ValueError(f"cdk context {f.name!r} is missing (defaults are in cdk.json)")
            values[f.name] = _coerce(f.name, raw, str(f.type))
        return cls(**values)


def _coerce(name: str, raw: Any, kind: str) -> Any:
    """Context from ``-c key=value`` arrives as a string; from cdk.json as JSON."""
    try:
        if kind.startswith("tuple"):
            items = json.loads(raw) if isinstance(raw, str) and raw.startswith("[") else raw
            items = items.split(",") if isinstance(items, str) else items
            return tuple(item.strip() for item in items if item.strip())
        if kind.startswith("Mapping"):
            return dict(json.loads(raw) if isinstance(raw, str) else raw)
        if kind == "bool":
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if kind in ("int", "float"):
            return {"int": int, "float": float}[kind](raw)
        return str(raw)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cdk context {name!r}={raw!r}: {exc}") from None


def cdk_json_context() -> dict[str, Any]:
    """The context in cdk.json, so that ``python app.py`` sees the same defaults as ``cdk synth``."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]
