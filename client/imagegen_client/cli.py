"""The ``imagegen`` command: one subcommand per task of the API, plus jobs, models, upload and
usage; and ``imagegen admin keys``, the operator's (admin.py, with AWS credentials, not a key).

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
from datetime import date
from pathlib import Path
from typing import Any

from .api import ApiError, Client
from .progress import Progress

URL_ENV, KEY_ENV = "IMAGEGEN_API_URL", "IMAGEGEN_API_KEY"
# Where `make run` writes the running local stack's address and key.
LOCAL_DIR_ENV = "IMAGEGEN_LOCAL_DIR"
STATIC_COMMANDS = ("models", "jobs", "upload", "usage", "admin")
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
    if args.command == "admin":  # AWS credentials, no API key
        return _admin(args)
    client = client or _client(args)
    client.on_retry = progress.reconnecting

    if args.command == "models":
        return _models(client, args)
    if args.command == "upload":
        print(client.upload(_existing(args.file)))
        return 0
    if args.command == "usage":
        return _usage(client, args)
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
    usage = command("usage", help="this key's team: requests, images and USD per day and model, and its budget")
    _range_flags(usage)
    usage.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _admin_parser(subcommands)
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
    models = client.models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    width = max((len(model["name"]) for model in models), default=0)
    for model in models:
        print(f"{model['name']:<{width}}  {', '.join(model.get('tasks', []))}")
    return 0
