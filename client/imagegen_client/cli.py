"""The ``imagegen`` command: one subcommand per task of the API, plus jobs, models, upload and
usage; and ``imagegen admin keys``, the operator's (admin.py, with AWS credentials, not a key).

The task subcommands and their flags come from the deployment's own OpenAPI document
(GET /v1/openapi.json), so the command always offers what the API it talks to accepts: a flag
per request field (``numberOfImages`` is ``-n/--number-of-images``) whose help gives the
field's description, range or choices and default, and a file for a field that takes an image.
The last document fetched is kept ($XDG_CACHE_HOME/imagegen/openapi.json), so ``--help`` works
with the API down; without one, the copy of docs/openapi.json in this package (``make docs``).

Warnings of a job (a model's end of life, a field ignored) go to stderr; with --json they are in
the job printed.

Exit status: 0 done, 1 the API refused or a job failed (its message on stderr) or, for verify,
the image's content credentials are not valid or absent, 2 usage.
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import json
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from .api import ApiError, Client
from .progress import Progress

URL_ENV, KEY_ENV = "IMAGEGEN_API_URL", "IMAGEGEN_API_KEY"
# Where `make run` writes the running local stack's address and key.
LOCAL_DIR_ENV = "IMAGEGEN_LOCAL_DIR"
STATIC_COMMANDS = ("models", "jobs", "upload", "usage", "verify", "admin")
# Fields the command sets itself: it always asks for URLs and downloads them with --out.
OWN_FIELDS = {"responseFormat"}
SHORT_FLAGS = {"numberOfImages": "-n", "prompt": "-p", "model": "-m"}
NO_API = (
    "no API to call: give --api-url and --api-key, set IMAGEGEN_API_URL and IMAGEGEN_API_KEY, "
    "or start the local stack with `make run`"
)
CACHE_ENV = "XDG_CACHE_HOME"
DOCUMENT_CACHE, MODELS_CACHE = "openapi.json", "models.json"
BUNDLED_DOCUMENT = "openapi.json"  # docs/openapi.json, copied into the package by `make docs`


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        return status
    except BrokenPipeError:
        # The reader went away (`imagegen models --json | head -c 10`): nothing more to say. As
        # Python's docs recommend (signal, "Note on SIGPIPE"), stdout becomes /dev/null so the
        # flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: list[str]) -> int:
    progress = Progress(sys.stderr)
    try:
        return _run(argv, progress)
    except UsageError as error:
        print(f"imagegen: {error}", file=sys.stderr)
        return 2
    except ApiError as error:
        progress.close()
        print(f"imagegen: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.close()
        print("imagegen: interrupted (a job keeps running: imagegen jobs <id> --wait)", file=sys.stderr)
        return 130
    finally:
        progress.close()


def _run(argv: list[str], progress: Progress) -> int:
    first, _ = _global_parser(add_help=False).parse_known_args(argv)
    command = next((arg for arg in argv if not arg.startswith("-") and arg not in (first.api_url, first.api_key)), None)
    wants_help = any(arg in ("-h", "--help") for arg in argv)
    client = None
    tasks: dict[str, dict[str, Any]] = {}
    models = None
    if command not in STATIC_COMMANDS and (command is not None or wants_help):
        try:
            client = _client(first)
            document = client.openapi()
            remember(DOCUMENT_CACHE, document)
            # A task's help names each model's range of each field (GET /v1/models, as the playground).
            models = _models_answer(client) if wants_help and command is not None else None
        except (UsageError, ApiError) as error:
            if not wants_help:
                raise
            document, source = remembered_document()
            models = remembered(MODELS_CACHE)
            print(f"imagegen: no document from the API ({str(error).splitlines()[0]}); the tasks and flags below "
                  f"are {source}", file=sys.stderr)  # fmt: skip
        tasks = task_fields(document)
    args = build_parser(tasks, models).parse_args(argv)
    if args.command is None:
        build_parser(tasks).print_usage(sys.stderr)
        raise UsageError("give a command (imagegen --help lists them)")
    if args.command == "admin":  # AWS credentials, no API key
        return _admin(args)
    client = client or _client(args)
    client.on_retry = progress.reconnecting

    if args.command == "models":
        return _models(client, args)
    if args.command == "upload":
        print(client.upload(_existing(args.file)))
        return 0
    if args.command == "verify":
        return _verify(client, args)
    if args.command == "usage":
        return _usage(client, args)
    if args.command == "jobs":
        job = client.wait(args.id, progress.status) if args.wait else client.job(args.id)
        if job.get("status") == "FAILED":
            _failed(job, args)
        return _show(client, job, args, progress)
    fields = _fields(tasks[args.command], args, client, progress)
    progress.request(args.command)
    try:
        job = client.run(args.command, fields, wait=not args.no_wait, on_status=progress.status)
    except ApiError as error:
        if error.job is None:
            raise
        progress.close()
        _failed(error.job, args)
    finally:
        progress.answered()
    return _show(client, job, args, progress)


def _failed(job: dict[str, Any], args: argparse.Namespace) -> None:
    """A job that ended FAILED: printed with --json (the caller reads its error there too), its
    warnings on stderr without; exit status 1 either way."""
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        _warn(job)
    raise ApiError.of_job(job)


# --- configuration -----------------------------------------------------------------------------


def _global_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagegen", add_help=add_help, description="Generate and edit images through a serverless-imagegen API.",
        epilog=f"The API: --api-url/--api-key, else ${URL_ENV}/${KEY_ENV}, else the running `make run` stack.",
    )  # fmt: skip
    parser.add_argument("--api-url", help="the API's base URL (the stack's ApiUrl output, ending in /v1)")
    parser.add_argument("--api-key", help="the API key")
    return parser


def _client(args: argparse.Namespace) -> Client:
    url = args.api_url or os.environ.get(URL_ENV)
    key = args.api_key or os.environ.get(KEY_ENV)
    if not url or not key:
        local = local_stack()
        if local is None:
            raise UsageError(NO_API)
        url, key = url or local["api"], key or local["apiKey"]
    return Client(url, key)


def local_stack() -> dict[str, str] | None:
    """The stack `make run` is serving: $IMAGEGEN_LOCAL_DIR/stack.json when that is set (as for
    `make run`), else .local/stack.json in this folder or one above it, else in the checkout this
    command is installed from."""
    if os.environ.get(LOCAL_DIR_ENV):
        folders = [Path(os.environ[LOCAL_DIR_ENV])]
    else:
        folders = [folder / ".local" for folder in (Path.cwd(), *Path.cwd().parents)]
        folders.append(Path(__file__).resolve().parents[2] / ".local")
    for folder in folders:
        if (folder / "stack.json").is_file():
            return json.loads((folder / "stack.json").read_text())
    return None


# --- the OpenAPI document (and the models), kept for when the API cannot be reached ---------------


def cached(name: str) -> Path:
    """Where the last answer of a route is kept: $XDG_CACHE_HOME/imagegen/<name> (~/.cache)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache") / "imagegen" / name


def remember(name: str, answer: Any) -> None:
    """Keep an answer for `--help` with the API down; a cache that cannot be written is no error."""
    path = cached(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(answer))
        temporary.replace(path)
    except OSError:
        pass


def remembered(name: str) -> Any:
    try:
        return json.loads(cached(name).read_text())
    except (OSError, ValueError):
        return None


def _models_answer(client: Client) -> dict[str, Any] | None:
    try:
        answer = client.call("GET", "/models")
    except ApiError:  # a wrong key, say: the help is still given, from what was seen last
        return remembered(MODELS_CACHE)
    remember(MODELS_CACHE, answer)
    return answer


def remembered_document() -> tuple[dict[str, Any], str]:
    """The last document fetched, else the one this package was built with; and which it is."""
    document = remembered(DOCUMENT_CACHE)
    if isinstance(document, dict):
        return document, f"those the API offered last ({cached(DOCUMENT_CACHE)})"
    bundled = importlib.resources.files(__package__).joinpath(BUNDLED_DOCUMENT)
    return json.loads(bundled.read_text()), "this client's built-in list (the API may offer other ones)"


# --- the parser ----------------------------------------------------------------------------------


def task_fields(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Task name -> its request schema (properties resolved), for every route that may start a job."""
    schemas = document.get("components", {}).get("schemas", {})
    tasks = {}
    for path, item in document.get("paths", {}).items():
        operation = item.get("post") or {}
        reference = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if "202" not in operation.get("responses", {}) or not reference:
            continue
        schema = schemas[reference["$ref"].rsplit("/", 1)[-1]]
        properties = {name: _resolved(field, schemas) for name, field in schema.get("properties", {}).items()}
        tasks[path.rsplit("/", 1)[-1]] = {**schema, "properties": properties}
    return tasks


def _resolved(field: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """A field with the object schemas it refers to ($ref) written in (the webhook's, for one)."""
    if "$ref" in field:
        return {**schemas.get(field["$ref"].rsplit("/", 1)[-1], {}), **{k: v for k, v in field.items() if k != "$ref"}}
    if "anyOf" in field:
        return {**field, "anyOf": [_resolved(option, schemas) for option in field["anyOf"]]}
    return field


def build_parser(tasks: dict[str, dict[str, Any]], models: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The command; ``models`` (GET /v1/models) adds each model's range to a task's flags."""
    parser = _global_parser()
    # The API's flags are taken after the subcommand too (`imagegen models --api-key ...`).
    api_flags = argparse.ArgumentParser(add_help=False)
    api_flags.add_argument("--api-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    api_flags.add_argument("--api-key", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    subcommands = parser.add_subparsers(dest="command", metavar="command")
    command = functools.partial(subcommands.add_parser, parents=[api_flags])
    listing = command("models", help="the models this deployment serves")
    listing.add_argument("--json", action="store_true", help="print the API's answer (models, defaults) as JSON")
    jobs = command("jobs", help="a job's status and images")
    jobs.add_argument("id", help="the job id")
    jobs.add_argument("--wait", action="store_true", help="poll until the job ends")
    _output_flags(jobs)
    upload = command("upload", help="upload an image; prints its s3:// URI for image fields")
    upload.add_argument("file", help="a PNG, JPEG or WebP file")
    verify = command(
        "verify", help="an image's content credentials (C2PA): valid, signer, AI-generated, model, job",
        description="Checks an image's content credentials (C2PA manifest) through POST /v1/verify. Exit status "
        "0: valid; 1: not valid, or no content credentials.",
    )  # fmt: skip
    verify.add_argument("file", metavar="FILE|s3://", help="a PNG, JPEG or WebP file (uploaded first when over 4 MiB), "
                        "or an upload's s3:// URI")  # fmt: skip
    verify.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    usage = command("usage", help="this key's team: requests, images and USD per day and model, and its budget")
    _range_flags(usage)
    usage.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _admin_parser(subcommands)
    for task, schema in sorted(tasks.items()):
        run = command(task, help=f"POST /v1/{task}")
        required = set(schema.get("required", []))
        ranges = model_ranges(models, task) if isinstance(models, dict) else {}
        for name, field in schema.get("properties", {}).items():
            if name not in OWN_FIELDS:
                _add_field(run, name, field, name in required, ranges.get(name))
        run.add_argument("--async", dest="mode", action="store_const", const="async",
                         help="run as a job, polled to its end (default: the API's choice, mode auto)")  # fmt: skip
        run.add_argument("--no-wait", action="store_true", help="print the started job and return")
        _output_flags(run)
    return parser


def _output_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--out", metavar="DIR", help="download the images into DIR as <job id>-<n>.<ext>")
    command.add_argument("--json", action="store_true", help="print the job as JSON")


def _add_field(
    command: argparse.ArgumentParser, name: str, field: dict[str, Any], required: bool, per_model: str | None = None
) -> None:
    shape = next((option for option in field.get("anyOf", [field]) if option.get("type") != "null"), field)
    flags = [SHORT_FLAGS[name]] if name in SHORT_FLAGS else []
    flags.append("--" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower())
    options: dict[str, Any] = {"dest": name, "required": required}
    item = shape.get("items", shape) if shape.get("type") == "array" else shape
    if shape.get("type") == "array":
        options["nargs"] = "+"
    if item.get("x-image"):
        options["metavar"] = "PATH|s3://"
    elif "enum" in item:
        options["choices"] = item["enum"]
    elif item.get("type") in ("integer", "number"):
        options["type"] = int if item["type"] == "integer" else float
        options["metavar"] = "N"
    elif item.get("type") == "string":
        options["metavar"] = "TEXT"
    elif item.get("type") == "object":
        url = "url" in item.get("properties", {})
        options["metavar"] = "URL|JSON" if url else "JSON"
        options["type"] = functools.partial(_object_value, url=url)
    options["help"] = field_help(name, field, required, per_model).replace("%", "%%")
    command.add_argument(*flags, **options)


def field_help(name: str, field: dict[str, Any], required: bool, per_model: str | None = None) -> str:
    """A flag's help from its field's schema: what it is, its range or choices, its default; and
    ``per_model``, what the models say (model_ranges)."""
    shape = next((option for option in field.get("anyOf", [field]) if option.get("type") != "null"), field)
    item = shape.get("items", shape) if shape.get("type") == "array" else shape
    if item.get("x-image"):
        parts = ["an image file (sent inline up to 1 MiB, uploaded when larger) or an s3:// URI"]
        if shape.get("type") == "array":
            parts[0] = "image files (each sent inline up to 1 MiB, uploaded when larger) or s3:// URIs"
    elif name == "model":
        parts = ["a model name (imagegen models)" if not per_model else "a model name"]
    elif item.get("type") == "object":
        parts = [_sentence(item.get("description") or field.get("description") or "an object").rstrip(".")]
        inner = item.get("properties", {})
        others = [f"{key} ({field_help(key, value, key in item.get('required', []))})" for key, value in inner.items()
                  if key != "url" or "url" not in inner]  # fmt: skip
        if "url" in inner:
            parts.append(f"a URL ({_sentence(inner['url'].get('description') or 'where')})")
        parts.append(f"{'or ' if 'url' in inner else ''}JSON {{{', '.join(inner)}}}" + (
            f" with {', '.join(others)}" if others else ""))  # fmt: skip
    else:
        description = field.get("description") or shape.get("description") or item.get("description")
        parts = [_sentence(description)] if description else []
    if "enum" in item:
        parts.append("one of " + ", ".join(str(choice) for choice in item["enum"]))
    parts.append(_span(item, "characters" if item.get("type") == "string" else ""))
    if shape.get("type") == "array":
        parts.append(_span(shape, "items"))
    if item.get("pattern") == r"^#[0-9A-Fa-f]{6}$":
        parts.append("colors as #RRGGBB")
    elif item.get("pattern"):
        parts.append(f"matching {item['pattern']}")
    if per_model:
        parts.append(per_model)
    elif item.get("type") in ("integer", "number") and not _span(item, ""):
        parts.append("range: the model's (imagegen models --json)")
    if required:
        parts.append("required")
    elif field.get("default") is not None:
        default = field["default"]
        parts.append(f"default {', '.join(map(str, default)) if isinstance(default, list) else default}")
    elif name == "model" and not per_model:
        parts.append("default: the deployment's for this task")
    elif name == "model" or (per_model and "default" in per_model):
        pass
    elif item.get("type") == "object":
        parts.append("default none")
    else:
        parts.append("default: the model's")
    return "; ".join(part for part in parts if part)


def model_ranges(models: dict[str, Any], task: str) -> dict[str, str]:
    """Field -> what each model serving ``task`` takes (its published range and default, from
    GET /v1/models), models with the same grouped: "1–5, default 1 (nova-canvas, titan-image-v2)"."""
    served = [model for model in models.get("models", []) if task in model.get("tasks", [])]
    groups: dict[str, dict[str, list[str]]] = {}
    for model in served:
        unsupported = set((model.get("unsupportedFields") or {}).get(task, []))
        texts = {field: _limit_text(limit) for field, limit in (model.get("limits") or {}).items()}
        texts |= _size_texts(model.get("sizes") or {})
        for field, text in texts.items():
            if field not in unsupported:
                groups.setdefault(field, {}).setdefault(text, []).append(model["name"])
    ranges = {
        field: "per model: " + "; ".join(f"{text} ({', '.join(names)})" for text, names in by_text.items())
        for field, by_text in groups.items()
    }
    default = (models.get("defaults") or {}).get(task)
    if served:
        ranges["model"] = "one of " + ", ".join(model["name"] for model in served) + (
            f"; default {default}, the deployment's" if default else "")  # fmt: skip
    return ranges


def _limit_text(limit: dict[str, Any]) -> str:
    def number(value: Any) -> str:
        return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"

    unit = f" {limit['unit']}" if limit.get("unit") else ""
    text = f"{number(limit['min'])}–{number(limit['max'])}{unit}" if "min" in limit and "max" in limit else "any"
    return text + (f", default {number(limit['default'])}" if limit.get("default") is not None else "")


def _size_texts(sizes: dict[str, Any]) -> dict[str, str]:
    """Width and height as a model takes them: free within bounds, or from its table of sizes."""
    default = sizes.get("default") or []
    if sizes.get("kind") == "free":
        step = f", a multiple of {sizes['multipleOf']}" if sizes.get("multipleOf") else ""
        texts = [f"{sizes['minSide']:,}–{sizes['maxSide']:,} px{step}"] * 2
    elif sizes.get("kind") == "table" and sizes.get("sizes"):
        texts = [f"{min(s[i] for s in sizes['sizes']):,}–{max(s[i] for s in sizes['sizes']):,} px, a size of its table"
                 for i in (0, 1)]  # fmt: skip
    else:
        return {}
    if len(default) == 2:
        texts = [f"{text}, default {side:,}" for text, side in zip(texts, default, strict=True)]
    return dict(zip(("width", "height"), texts, strict=True))


def _sentence(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _object_value(value: str, url: bool) -> dict[str, Any]:
    """An object field's flag: JSON, or (for an object with a url, like webhook) just the URL."""
    if url and not value.lstrip().startswith("{"):
        return {"url": value}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("not a JSON object")
    return parsed


def _span(schema: dict[str, Any], unit: str) -> str:
    """A schema's bounds, if any: "range 1–10", "range > 0", "up to 10,000 characters", "1–5 items"."""
    if unit:
        low, high = (schema.get("minItems"), schema.get("maxItems")) if unit == "items" else (
            schema.get("minLength"), schema.get("maxLength"))  # fmt: skip
        low = None if low == 0 else low
        if low is None and high is None:
            return ""
        if low is not None and high is not None:
            return f"{low:,}–{high:,} {unit}"
        return f"up to {high:,} {unit}" if high is not None else f"at least {low:,} {unit}"
    bounds = [
        f"{sign} {schema[key]:,}"
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if isinstance(schema.get(key), int | float)
    ]
    if "minimum" in schema and "maximum" in schema:
        return f"range {schema['minimum']:,}–{schema['maximum']:,}"
    return "range " + ", ".join(bounds) if bounds else ""


def _range_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first day (UTC)")
    command.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD", help="last day (UTC), default today")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: YYYY-MM-DD") from None


def _admin_parser(subcommands: Any) -> None:
    """`imagegen admin keys ...`: argument types live in admin.py, which imports boto3 only when run."""
    from . import admin

    group = subcommands.add_parser(
        "admin", help="operator commands: API keys per team (AWS credentials of the deployer, no API key)",
        description="Operator commands, run with the deployer's AWS credentials against the deployed stack "
        f"(--stack, default {admin.DEFAULT_STACK}) or against the local stack (--local; the default while "
        "`make run` is serving).",
    )  # fmt: skip
    keys = group.add_subparsers(dest="admin_command", metavar="command", required=True).add_parser(
        "keys", help="API keys per team: daily quota, throttle, monthly budget, usage",
        description="A team is an API Gateway usage plan on the API's stage with its key(s), and its items in the "
        "spend table (budget, usage). A key's value is shown once, when it is made.",
    )  # fmt: skip
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help=f"the deployed stack (default {admin.DEFAULT_STACK})")
    where.add_argument("--local", action="store_true", help="the stack `make run` is serving")
    target.add_argument("--region", help="the stack's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)")
    target.add_argument("--profile", help="the AWS profile of the deployer (default: AWS_PROFILE)")
    target.add_argument("--json", action="store_true", help="print the result as JSON")
    actions = keys.add_subparsers(dest="keys_command", metavar="command", required=True)
    action = functools.partial(actions.add_parser, parents=[target])
    team = {"metavar": "TEAM", "type": admin.team_name, "required": True, "help": "the team's name"}

    create = action("create", help="a team: its usage plan, its key (shown once), its budget")
    create.add_argument("--name", **team)
    create.add_argument("--quota", type=admin.positive_int, required=True, metavar="N", help="requests a day (UTC)")
    _throttle_flags(create, "default: the stack's own plan's")
    create.add_argument("--budget-usd", type=admin.budget_usd, metavar="USD", help="monthly budget; default none")

    action("list", help="every team: key ids, quota, throttle, budget, this month's spend")

    rotate = action("rotate", help="a new key for a team (shown once); its other keys disabled")
    rotate.add_argument("--name", **team)
    rotate.add_argument("--keep-old", action="store_true", help="leave the old key enabled (revoke it later by id)")

    revoke = action("revoke", help="disable a team's keys, or one key (kept, with their usage)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", metavar="TEAM", type=admin.team_name, help="every key of the team")
    which.add_argument("--key-id", metavar="ID", help="one key, by its id")

    usage = action("usage", help="a team's requests, images and USD per day and model, and its month")
    usage.add_argument("--name", **team)
    _range_flags(usage)

    budget = action("budget", help="set or remove a team's monthly budget")
    budget.add_argument("--name", **team)
    budget.add_argument("--budget-usd", type=admin.budget_or_none, required=True, metavar="USD|none",
                        help="US dollars a month, or none for no budget")  # fmt: skip

    quota = action("quota", help="change a team's quota per day and throttle")
    quota.add_argument("--name", **team)
    quota.add_argument("--quota", type=admin.positive_int, metavar="N", help="requests a day (UTC)")
    _throttle_flags(quota, "unchanged when not given")


def _throttle_flags(command: argparse.ArgumentParser, default: str) -> None:
    from . import admin

    command.add_argument("--throttle-rate", type=admin.positive_rate, metavar="R", help=f"requests a second; {default}")
    command.add_argument("--throttle-burst", type=admin.positive_int, metavar="B", help=f"burst; {default}")


# --- doing it --------------------------------------------------------------------------------


def _fields(schema: dict[str, Any], args: argparse.Namespace, client: Client, progress: Progress) -> dict[str, Any]:
    """The request from the flags given; image files become inline base64 or uploads."""
    fields = {}
    for name, field in schema.get("properties", {}).items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if _is_image(field):
            value = [_image(item, client, progress) for item in value] if isinstance(value, list) else (
                _image(value, client, progress))  # fmt: skip
        fields[name] = value
    return fields


def _is_image(field: dict[str, Any]) -> bool:
    for option in field.get("anyOf", [field]):
        if option.get("x-image") or option.get("items", {}).get("x-image"):
            return True
    return False


def _image(value: str, client: Client, progress: Progress) -> Any:
    if value.startswith("s3://"):
        return value
    path = _existing(value)
    sent = client.image_value(path.read_bytes())
    if isinstance(sent, str) and sent.startswith("s3://"):
        progress.uploaded(str(path), sent)
    return sent


def _existing(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"{value}: no such file")
    return path


def _warn(job: dict[str, Any]) -> None:
    for warning in job.get("warnings") or []:
        print(f"imagegen: warning: {warning}", file=sys.stderr)


def _show(client: Client, job: dict[str, Any], args: argparse.Namespace, progress: Progress) -> int:
    if not args.json or args.out:
        _warn(job)
    if args.out and job.get("status") == "SUCCEEDED":
        for path in client.download(job, args.out, progress.download):
            print(path)
        return 0
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    if job.get("status") == "RUNNING":
        print(job["id"])
        print(f"job {job['id']} is running: imagegen jobs {job['id']} --wait", file=sys.stderr)
        return 0
    for image in job.get("images") or []:
        print(image.get("url", image.get("s3Uri")))
    if job.get("filtered"):
        print(f"{job['filtered']} image(s) removed by the model's content filter", file=sys.stderr)
    return 0


def _usage(client: Client, args: argparse.Namespace) -> int:
    from .tables import usage_table

    usage = client.usage(args.start, args.end)
    print(json.dumps(usage, indent=2) if args.json else usage_table(usage))
    return 0


def _admin(args: argparse.Namespace) -> int:
    from . import admin

    local = None
    if not args.stack:
        local = local_stack()
        if args.local and local is None:
            raise UsageError("--local: no local stack is running (start it with `make run`)")
    if args.keys_command == "quota" and args.quota is args.throttle_rate is args.throttle_burst is None:
        raise UsageError("keys quota: give --quota, --throttle-rate or --throttle-burst")
    if args.keys_command == "usage" and args.start and args.end and args.end < args.start:
        raise UsageError("--to is before --from")
    try:
        manager = admin.connect(stack=args.stack, local=local, region=args.region, profile=args.profile)
        print(f"imagegen admin: {manager.target.label}", file=sys.stderr)
        answer, text = _KEYS_COMMANDS[args.keys_command](manager, args)
    except admin.AdminError as error:
        print(f"imagegen: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else text)
    return 0


# Each `imagegen admin keys` command: (its answer as JSON, as text).


def _keys_create(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    made = manager.create(args.name, args.quota, rate=args.throttle_rate, burst=args.throttle_burst,
                          budget=args.budget_usd)  # fmt: skip
    return made.as_dict(), _new_key_text(made, "created")


def _keys_rotate(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    made = manager.rotate(args.name, keep_old=args.keep_old)
    return made.as_dict(), _new_key_text(made, "rotated")


def _keys_revoke(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    team, disabled = manager.revoke(args.name, args.key_id)
    text = (
        f"team {team}: disabled key(s) {', '.join(disabled)}: callers using them get 401 invalid_api_key. Kept, "
        f"with their usage; `keys rotate --name {team}` issues a new key"
        if disabled else f"team {team} has no enabled key"
    )  # fmt: skip
    return {"team": team, "disabledKeyIds": disabled}, text


def _keys_list(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    from .tables import keys_table

    teams = manager.teams()
    return teams, keys_table(teams)


def _keys_usage(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    from .tables import usage_table

    usage = manager.usage(args.name, *manager.days(args.start, args.end))
    return usage, usage_table(usage)


def _keys_budget(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    from .tables import month_line

    manager.set_budget(args.name, args.budget_usd)
    month = manager.month(args.name)
    lines = [f"team {args.name}: {month_line(month)}"]
    if month["budgetUsd"] is not None and month["committedUsd"] > month["budgetUsd"]:
        lines.append(f"already over it: the team's paid requests are refused (402 budget_exceeded) until "
                     f"{month['resetsAt']} or a higher budget")  # fmt: skip
    return {"team": args.name, **month}, "\n".join(lines)


def _keys_quota(manager: Any, args: argparse.Namespace) -> tuple[Any, str]:
    team = manager.set_quota(args.name, args.quota, args.throttle_rate, args.throttle_burst)
    return {"team": team.name, "quota": team.quota, "throttle": team.throttle}, (
        f"team {team.name}: {_limits(team.quota, team.throttle)}"
    )


_KEYS_COMMANDS = {
    "create": _keys_create, "rotate": _keys_rotate, "revoke": _keys_revoke, "list": _keys_list,
    "usage": _keys_usage, "budget": _keys_budget, "quota": _keys_quota,
}  # fmt: skip


def _new_key_text(made: Any, what: str) -> str:
    from .tables import money

    budget = f"{money(float(made.budget))} USD a month" if made.budget is not None else "none"
    lines = [
        f"team {made.team}: key {what}",
        f"  key id       {made.key_id}",
        f"  key value    {made.value}",
        "               shown this once: store it now (keys list shows ids only); callers send it as the",
        "               x-api-key header or Authorization: Bearer",
        f"  usage plan   {made.usage_plan_id}: {_limits(made.quota, made.throttle)}",
        f"  budget       {budget}",
    ]
    if made.disabled:
        lines.append(f"disabled the old key(s) {', '.join(made.disabled)}: callers still using them get 401 now")
    if made.kept:
        lines.append(f"the old key(s) {', '.join(made.kept)} still work: `keys revoke --key-id <id>` when moved over")
    if what == "rotated":
        lines.append("the team's budget, quota and this month's spend carry over")
    return "\n".join(lines)


def _limits(quota: dict[str, Any] | None, throttle: dict[str, Any] | None) -> str:
    parts = [f"{quota['limit']} requests a {quota['period'].lower()}" if quota else "no quota"]
    if throttle:
        parts.append(f"throttle {throttle['rateLimit']:g} requests a second, burst {throttle['burstLimit']}")
    return ", ".join(parts)


def _models(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("GET", "/models")
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    models, defaults = answer.get("models", []), answer.get("defaults") or {}
    width = max((len(model["name"]) for model in models), default=0)
    for model in models:
        tasks = [
            task + (" (default)" if defaults.get(task) == model["name"] else "") for task in model.get("tasks", [])
        ]
        print(f"{model['name']:<{width}}  {', '.join(tasks)}")
    return 0


def _verify(client: Client, args: argparse.Namespace) -> int:
    """Exit status 0 when the content credentials are valid; 1 when not, or when there are none."""
    answer = client.verify(args.file if args.file.startswith("s3://") else _existing(args.file))
    print(json.dumps(answer, indent=2) if args.json else verification_text(answer))
    return 0 if answer.get("valid") else 1


def verification_text(answer: dict[str, Any]) -> str:
    """POST /v1/verify's answer as a person reads it."""
    reasons = answer.get("reasons") or []
    if not answer.get("manifest"):
        return "no content credentials" + (f": {reasons[0]}" if reasons else " (no C2PA manifest)")
    if answer.get("trusted"):
        verdict = "valid and trusted (signed under this deployment's certificate authority)"
    elif answer.get("valid"):
        verdict = "valid, not trusted (the signer's certificate authority is not this deployment's)"
    else:
        verdict = "NOT VALID"
    lines = [f"content credentials: {verdict}"]
    lines += [f"  {reason}" for reason in reasons]
    rows = [
        ("signer", _signer(answer.get("signer"))),
        ("AI-generated", "yes" if answer.get("aiGenerated") else "no"),
        ("model", " ".join(filter(None, [answer.get("model"), answer.get("modelId") and f"({answer['modelId']})"]))),
        ("task", answer.get("task")),
        ("job", answer.get("jobId")),
        ("created", (answer.get("created") or "") + (" (timestamped)" if answer.get("timestamped") else "")),
        ("generator", answer.get("claimGenerator")),
        ("actions", ", ".join(answer.get("actions") or [])),
    ]
    lines += [f"{label + ':':<14}{value}" for label, value in rows if value]
    ingredients = answer.get("ingredients") or []
    lines.append(f"{'ingredients:':<14}{'none' if not ingredients else ''}".rstrip())
    for ingredient in ingredients:
        notes = [ingredient.get("relationship"), ingredient.get("format")]
        if ingredient.get("manifest"):
            notes.append(f"its own credentials, signed by {_signer(ingredient.get('signer')) or 'an unnamed signer'}")
        if ingredient.get("aiGenerated"):
            notes.append("AI-generated")
        title = ingredient.get("title") or "(untitled)"
        lines.append(f"  {title}" + (f" ({', '.join(n for n in notes if n)})" if any(notes) else ""))
    return "\n".join(lines)


def _signer(signer: dict[str, Any] | None) -> str:
    if not signer:
        return ""
    name = ", ".join(str(signer[key]) for key in ("name", "organization") if signer.get(key))
    return name + (f" [{signer['algorithm']}]" if signer.get("algorithm") else "")
