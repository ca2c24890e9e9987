"""The ``imagegen`` command: one subcommand per task of the API, plus jobs, models and upload.

The task subcommands and their flags come from the deployment's own OpenAPI document
(GET /v1/openapi.json), so the command always offers what the API it talks to accepts: a flag
per request field (``numberOfImages`` is ``-n/--number-of-images``), and a file for a field
that takes an image.

Exit status: 0 done, 1 the API refused or a job failed (its message on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .api import ApiError, Client
from .progress import Progress

URL_ENV, KEY_ENV = "IMAGEGEN_API_URL", "IMAGEGEN_API_KEY"
# Where `make run` writes the running local stack's address and key.
LOCAL_DIR_ENV = "IMAGEGEN_LOCAL_DIR"
STATIC_COMMANDS = ("models", "jobs", "upload")
# Fields the command sets itself: it always asks for URLs and downloads them with --out.
OWN_FIELDS = {"responseFormat"}
SHORT_FLAGS = {"numberOfImages": "-n", "prompt": "-p", "model": "-m"}
NO_API = (
    "no API to call: give --api-url and --api-key, set IMAGEGEN_API_URL and IMAGEGEN_API_KEY, "
    "or start the local stack with `make run`"
)


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
    wants_help = command is None and any(arg in ("-h", "--help") for arg in argv)
    client = None
    tasks: dict[str, dict[str, Any]] = {}
    if command not in STATIC_COMMANDS and (command is not None or wants_help):
        try:
            client = _client(first)
            tasks = task_fields(client.openapi())
        except (UsageError, ApiError) as error:
            if not wants_help:
                raise
            print(f"(the task subcommands come from the API, which gave none: {error})", file=sys.stderr)
    args = build_parser(tasks).parse_args(argv)
    if args.command is None:
        build_parser(tasks).print_usage(sys.stderr)
        raise UsageError("give a command (imagegen --help lists them)")
    client = client or _client(args)
    client.on_retry = progress.reconnecting

    if args.command == "models":
        return _models(client, args)
    if args.command == "upload":
        print(client.upload(_existing(args.file)))
        return 0
    if args.command == "jobs":
        job = client.wait(args.id, progress.status) if args.wait else client.job(args.id)
        if job.get("status") == "FAILED":
            raise ApiError.of_job(job)
        return _show(client, job, args, progress)
    fields = _fields(tasks[args.command], args, client, progress)
    progress.request(args.command)
    try:
        job = client.run(args.command, fields, wait=not args.no_wait, on_status=progress.status)
    finally:
        progress.answered()
    return _show(client, job, args, progress)


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
        tasks[path.rsplit("/", 1)[-1]] = schemas[reference["$ref"].rsplit("/", 1)[-1]]
    return tasks


def build_parser(tasks: dict[str, dict[str, Any]]) -> argparse.ArgumentParser:
    parser = _global_parser()
    # The API's flags are taken after the subcommand too (`imagegen models --api-key ...`).
    api_flags = argparse.ArgumentParser(add_help=False)
    api_flags.add_argument("--api-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    api_flags.add_argument("--api-key", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    subcommands = parser.add_subparsers(dest="command", metavar="command")
    command = functools.partial(subcommands.add_parser, parents=[api_flags])
    models = command("models", help="the models this deployment serves")
    models.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    jobs = command("jobs", help="a job's status and images")
    jobs.add_argument("id", help="the job id")
    jobs.add_argument("--wait", action="store_true", help="poll until the job ends")
    _output_flags(jobs)
    upload = command("upload", help="upload an image; prints its s3:// URI for image fields")
    upload.add_argument("file", help="a PNG, JPEG or WebP file")
    for task, schema in sorted(tasks.items()):
        run = command(task, help=f"POST /v1/{task}")
        required = set(schema.get("required", []))
        for name, field in schema.get("properties", {}).items():
            if name not in OWN_FIELDS:
                _add_field(run, name, field, name in required)
        run.add_argument("--async", dest="mode", action="store_const", const="async", help="run as a job")
        run.add_argument("--no-wait", action="store_true", help="print the started job and return")
        _output_flags(run)
    return parser


def _output_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--out", metavar="DIR", help="download the images into DIR as <job id>-<n>.<ext>")
    command.add_argument("--json", action="store_true", help="print the job as JSON")


def _add_field(command: argparse.ArgumentParser, name: str, field: dict[str, Any], required: bool) -> None:
    shape = next((option for option in field.get("anyOf", [field]) if option.get("type") != "null"), field)
    flags = [SHORT_FLAGS[name]] if name in SHORT_FLAGS else []
    flags.append("--" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower())
    options: dict[str, Any] = {"dest": name, "required": required}
    item = shape.get("items", shape) if shape.get("type") == "array" else shape
    if shape.get("type") == "array":
        options["nargs"] = "+"
    if item.get("x-image"):
        options["metavar"] = "PATH|s3://"
        options["help"] = "an image file (sent inline when small, uploaded when large) or an s3:// URI"
    elif "enum" in item:
        options["choices"] = item["enum"]
    elif item.get("type") in ("integer", "number"):
        options["type"] = int if item["type"] == "integer" else float
        options["metavar"] = "N"
    elif item.get("type") == "string":
        options["metavar"] = "TEXT"
    if name == "model":
        options["help"] = "a model name (imagegen models); default: the deployment's for this task"
    if "help" not in options and field.get("default") is not None:
        options["help"] = f"default {field['default']}"
    command.add_argument(*flags, **options)


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


def _show(client: Client, job: dict[str, Any], args: argparse.Namespace, progress: Progress) -> int:
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


def _models(client: Client, args: argparse.Namespace) -> int:
    models = client.models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    width = max((len(model["name"]) for model in models), default=0)
    for model in models:
        print(f"{model['name']:<{width}}  {', '.join(model.get('tasks', []))}")
    return 0
