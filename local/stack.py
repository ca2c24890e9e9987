"""Start every piece of the local stack, wire them with environment variables, stop them cleanly."""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from imagegen.logs import JsonFormatter

from . import ROOT

log = logging.getLogger("imagegen.local")

DEFAULT_PORT = 8787
DEFAULT_API_KEY = "local-dev-key"
REGION = "us-east-1"
# The local stage of the REST API in moto that holds the keys and usage plans (the deployed
# stage is infra/api.py's STAGE).
STAGE = "local"
# API Gateway's shortest key value ("between 20 and 128 characters"): a shorter IMAGEGEN_API_KEY
# is known to the gateway by an alias of a generated one (local/keys.py).
MIN_KEY_VALUE_LENGTH = 20
PROJECT = "imagegen-local"
# Short, so that a trigger reported failed comes back quickly (the cloud's is an hour).
TRIGGER_VISIBILITY_SECONDS = 5
# How long a connection may send nothing (a request line, headers, or a body shorter than its
# Content-Length) before the server gives up on it; without it such a connection holds its
# thread forever.
READ_TIMEOUT_SECONDS = 3.0
# How long an answered bad request's remaining input is read and thrown away.
DISCARD_SECONDS = 1.0
# What http.server's limits (http.client's line length and header count) mean to a caller.
SERVER_LIMITS = {
    414: "the URL is too long: a request line may be at most 65,536 bytes",
    431: "the headers are too large: at most 100 header lines of at most 65,536 bytes each",
}


class _JsonErrorsHandler(WSGIRequestHandler):
    """Werkzeug's request handler, with the errors http.server answers before any app runs (a
    URL or a header line over 64 KB, over 100 headers, a malformed request line) in the API's
    JSON error shape instead of an HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        from .gateway import http_error

        error = http_error(code, SERVER_LIMITS.get(code, message))
        body = json.dumps(error.body()).encode()
        self.log_error("%d %s", code, error.message)
        # http.server takes a request line it could not parse for HTTP/0.9, which has no status
        # line and no headers: the client would get the body alone.
        self.request_version = self.protocol_version
        self.send_response(code)
        for name, value in {**error.headers(), "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
        self._discard_unread()

    def _discard_unread(self) -> None:
        """Read what the client is still sending (the rest of a 100 KB URL): closing a socket
        with unread input resets the connection, and the client loses the answer with it."""
        deadline = time.monotonic() + DISCARD_SECONDS
        with selectors.DefaultSelector() as selector:
            selector.register(self.connection, selectors.EVENT_READ)
            while time.monotonic() < deadline and selector.select(timeout=0.05):
                try:
                    if not self.connection.recv(64 * 1024):
                        return
                except OSError:
                    return


class AlreadyRunning(Exception):
    """The port or the state folder is another running stack's."""


def _running_stack(stack_file: Path) -> dict[str, Any] | None:
    """The stack a stack.json describes, if its process is still alive (a killed stack leaves
    its file behind)."""
    try:
        info = json.loads(stack_file.read_text())
        os.kill(int(info["pid"]), 0)
    except PermissionError:  # alive, another user's
        return info
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def _port_free(port: int) -> bool:
    # As the servers bind (SO_REUSEADDR): a port in TIME_WAIT after a stop counts as free.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _Server:
    """A WSGI app on a loopback port, served from a thread."""

    def __init__(self, app: Any, port: int = 0, read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
        # The socket timeout of each connection (StreamRequestHandler.timeout).
        handler = type("RequestHandler", (_JsonErrorsHandler,), {"timeout": read_timeout})
        self.server = make_server("127.0.0.1", port, app, threaded=True, request_handler=handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"http-{self.port}", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> _Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class LocalStack:
    port: int = DEFAULT_PORT
    api_key: str = DEFAULT_API_KEY
    state_dir: Path = ROOT / ".local"
    blocked_word: str = "forbidden"
    info: dict[str, Any] = field(default_factory=dict)
    _stoppers: list[Any] = field(default_factory=list)

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    def start(self) -> dict[str, Any]:
        self._refuse_if_taken()
        from moto.server import ThreadedMotoServer

        from .preview import PreviewEngine

        self.state_dir.mkdir(parents=True, exist_ok=True)
        engine = PreviewEngine(blocked_word=self.blocked_word)

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stoppers.append(moto.stop)
        moto_url = "http://{}:{}".format(*moto.get_host_and_port())
        from .emulators import bedrock_app, google_app

        bedrock = self._serve(bedrock_app(engine))
        google = self._serve(google_app(engine))
        self._aws_environment(moto_url, bedrock.url)
        resources = self._create_resources()
        from .deliveries import create_resources as create_webhook_resources

        resources |= create_webhook_resources()
        from . import provenance

        resources |= provenance.create_resources()
        keys = self._create_keys()
        self._function_environment(resources)
        self._google_environment(google.url)

        from .gateway import Gateway
        from .keys import KeyRing
        from .poller import TriggerPoller
        from .runner import JobRunner

        runner = JobRunner(resources["state_machine_arn"])
        runner.start()
        self._stoppers.append(runner.stop)
        poller = TriggerPoller(resources["queue_url"], resources["queue_arn"])
        poller.start()
        self._stoppers.append(poller.stop)
        from .deliveries import WebhookPoller

        deliveries = WebhookPoller(resources["webhook_queue_url"], resources["webhook_queue_arn"])
        deliveries.start()
        self._stoppers.append(deliveries.stop)
        key_ring = KeyRing(keys["rest_api_id"], STAGE, {self.api_key: keys["api_key_id"]})
        key_ring.start()
        self._stoppers.append(key_ring.stop)
        gateway = Gateway(key_ring, f"127.0.0.1:{self.port}")
        api = self._serve(gateway, self.port)
        gateway.address = api.address  # the same, unless PORT=0 let the system pick the port
        customize = self._serve(self._cloud_function(), self.port + 1 if self.port else 0)
        _warm_up()

        self.info = {
            "api": f"{api.url}/v1",
            "customize": customize.url,
            "s3Endpoint": moto_url,
            "inputBucket": resources["input_bucket"],
            "outputBucket": resources["output_bucket"],
            "apiKey": self.api_key,
            # The Standard Webhooks secret the key's webhooks are signed with (its team, default, is
            # the deployment's own; another team's: tools/webhook_secret.py --team <team>).
            "webhookSecret": resources["webhook_secret"],
            # The CA of this run's content credentials (local/provenance.py): a verifier's trust anchor.
            "trustAnchor": resources["trust_anchor"],
            # What `imagegen admin keys` manages, as a deployed stack's outputs name them.
            "region": REGION,
            "endpoint": moto_url,
            "restApiId": keys["rest_api_id"],
            "stage": STAGE,
            "usagePlanId": keys["usage_plan_id"],
            "apiKeyId": keys["api_key_id"],
            "spendTable": resources["spend_table"],
            "idempotencyTable": resources["idempotency_table"],
            # Who serves it: a second stack started on its port or its folder names this one.
            "pid": os.getpid(),
        }
        self.stack_file.write_text(json.dumps(self.info, indent=2) + "\n")
        return self.info

    def _refuse_if_taken(self) -> None:
        """Stop before starting anything (and before touching stack.json) when the ports or the
        state folder belong to a stack that is running."""
        running = _running_stack(self.stack_file)
        for port in (self.port, self.port + 1) if self.port else ():
            if _port_free(port):
                continue
            address = f"http://127.0.0.1:{port}"
            if running and address in (running["api"].removesuffix("/v1"), running["customize"]):
                owner = f"the local stack already running there (pid {running['pid']}, {running['api']})"
            else:
                owner = "another program"
            raise AlreadyRunning(f"port {port} is taken by {owner}: stop it, or choose another PORT")
        if running:
            raise AlreadyRunning(
                f"a local stack is already running from {self.state_dir} (pid {running['pid']}, {running['api']}):"
                " stop it, or give this one its own IMAGEGEN_LOCAL_DIR and PORT"
            )

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:  # keep stopping the rest
                log.exception("stopping %s", stop)
        self._stoppers.clear()
        if self.info:  # only the stack that wrote it removes it
            self.stack_file.unlink(missing_ok=True)
            self.info = {}

    def _serve(self, app: Any, port: int = 0) -> _Server:
        server = _Server(app, port).start()
        self._stoppers.append(server.stop)
        return server

    # --- wiring ----------------------------------------------------------------------------

    @staticmethod
    def _aws_environment(moto_url: str, bedrock_url: str) -> None:
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",
                # The standard per-service endpoint variables: the handlers have no local branch.
                "AWS_ENDPOINT_URL_S3": moto_url,
                "AWS_ENDPOINT_URL_SQS": moto_url,
                "AWS_ENDPOINT_URL_SFN": moto_url,
                "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
                "AWS_ENDPOINT_URL_KMS": moto_url,
                "AWS_ENDPOINT_URL_API_GATEWAY": moto_url,
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_url,
            }
        )

    @staticmethod
    def _create_resources() -> dict[str, str]:
        import boto3

        from core.layout import TRIGGERS
        from core.topology import INPUT_BUCKET_ID, OUTPUT_BUCKET_ID, TABLES, TRIGGER_MAX_RECEIVE_COUNT

        s3, sqs, sfn = boto3.client("s3"), boto3.client("sqs"), boto3.client("stepfunctions")
        output_bucket, input_bucket = (f"imagegen-local-{i.lower()}" for i in (OUTPUT_BUCKET_ID, INPUT_BUCKET_ID))
        for bucket in (output_bucket, input_bucket):
            s3.create_bucket(Bucket=bucket)
        dlq_url = sqs.create_queue(QueueName="imagegen-triggers-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(TRIGGER_MAX_RECEIVE_COUNT)})
        queue_url = sqs.create_queue(
            QueueName="imagegen-triggers",
            Attributes={"VisibilityTimeout": str(TRIGGER_VISIBILITY_SECONDS), "RedrivePolicy": redrive},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=input_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": TRIGGERS}]}},
                    }
                ]
            },
        )
        # Moto keeps executions RUNNING; local/runner.py plays the definition's steps.
        definition = {"Comment": "run by local/runner.py", "StartAt": "Run",
                      "States": {"Run": {"Type": "Wait", "Seconds": 86400, "End": True}}}  # fmt: skip
        machine = sfn.create_state_machine(
            name="imagegen-jobs", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/local"
        )
        # The tables as infra/tables.py makes them: teams, budgets and usage; Idempotency-Key records.
        dynamodb = boto3.client("dynamodb")
        tables = {}
        for kind, (partition, sort, expires) in TABLES.items():
            tables[kind] = f"imagegen-{kind}"
            keys = [(partition, "HASH"), *([(sort, "RANGE")] if sort else [])]
            dynamodb.create_table(
                TableName=tables[kind],
                KeySchema=[{"AttributeName": name, "KeyType": role} for name, role in keys],
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
                BillingMode="PAY_PER_REQUEST",
            )
            dynamodb.update_time_to_live(
                TableName=tables[kind], TimeToLiveSpecification={"Enabled": True, "AttributeName": expires}
            )
        return {
            "spend_table": tables["spend"],
            "idempotency_table": tables["idempotency"],
            "output_bucket": output_bucket,
            "input_bucket": input_bucket,
            "state_machine_arn": machine["stateMachineArn"],
            "queue_url": queue_url,
            "queue_arn": queue_arn,
            "dead_letter_queue_url": dlq_url,
        }

    def _create_keys(self) -> dict[str, str]:
        """A REST API with a stage in moto, as the anchor of the usage plans and keys that
        `imagegen admin keys` makes; the stack's own key in a plan of its own (cdk.json's quota
        and throttle), team ``default`` as deployed. The local gateway (local/keys.py) checks
        and counts callers against them."""
        import boto3

        apigateway = boto3.client("apigateway")
        api = apigateway.create_rest_api(
            name="imagegen-local", description="the keys and usage plans of the local gateway (local/keys.py)",
            apiKeySource="AUTHORIZER",
        )  # fmt: skip
        root = next(item for item in apigateway.get_resources(restApiId=api["id"])["items"] if item["path"] == "/")
        # A deployment needs a method; the local gateway serves the routes themselves.
        apigateway.put_method(
            restApiId=api["id"], resourceId=root["id"], httpMethod="ANY", authorizationType="NONE", apiKeyRequired=True
        )
        apigateway.put_integration(restApiId=api["id"], resourceId=root["id"], httpMethod="ANY", type="MOCK")
        apigateway.create_deployment(restApiId=api["id"], stageName=STAGE)
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        plan = apigateway.create_usage_plan(
            name="imagegen-local",
            description="serverless-imagegen callers",
            apiStages=[{"apiId": api["id"], "stage": STAGE}],
            throttle={
                "rateLimit": float(context["throttle_rate_limit"]),
                "burstLimit": int(context["throttle_burst_limit"]),
            },
            quota={"limit": int(context["quota_per_day"]), "period": "DAY"},
        )
        value = {"value": self.api_key} if len(self.api_key) >= MIN_KEY_VALUE_LENGTH else {}
        key = apigateway.create_api_key(
            name="imagegen-local-default", description="serverless-imagegen default key", enabled=True, **value
        )
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        return {"rest_api_id": api["id"], "usage_plan_id": plan["id"], "api_key_id": key["id"]}

    @staticmethod
    def _function_environment(resources: dict[str, str]) -> None:
        """Every function's variables, from the definitions the CDK stack uses.

        The functions share this process, so they see the union of their kinds' variables.
        """
        from core import clients
        from core.config import Settings
        from core.topology import FUNCTION_SETTINGS

        settings = Settings(
            output_bucket=resources["output_bucket"],
            input_bucket=resources["input_bucket"],
            state_machine_arn=resources["state_machine_arn"],
            bedrock_region=REGION,
            spend_table=resources["spend_table"],
            idempotency_table=resources["idempotency_table"],
            webhook_queue_url=resources["webhook_queue_url"],
            webhook_secret_arn=resources["webhook_secret_arn"],
            # Receivers on this machine (http://127.0.0.1:...): the local stack's only.
            webhook_allow_loopback=True,
            # Signed as deployed, with this run's key and chain (local/provenance.py).
            provenance="sign",
            signing_key=resources["signing_key"],
            certificate_secret=resources["certificate_secret"],
        )
        for names in FUNCTION_SETTINGS.values():
            os.environ.update(settings.to_env(names))
        clients.reset()

    def _google_environment(self, google_url: str) -> None:
        """A service-account key whose token endpoint is the emulator: google-auth runs unchanged."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from google.auth import _regional_access_boundary_utils

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_file = self.state_dir / "service-account.json"
        key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "local",
                    "private_key": pem.decode(),
                    "client_email": f"customize@{PROJECT}.iam.gserviceaccount.com",
                    "client_id": "0",
                    "token_uri": f"{google_url}/token",
                }
            )
        )
        key_file.chmod(0o600)
        from vertex import ENDPOINT_ENV, PROJECT_ENV

        # No location: each model's default, as deployed (global for the Gemini default).
        os.environ.update(
            {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), PROJECT_ENV: PROJECT, ENDPOINT_ENV: google_url}
        )
        # google-auth looks up a service account's access boundary on Google's IAM host after
        # each token refresh; the local stack answers it on loopback instead.
        _regional_access_boundary_utils.get_service_account_rab_endpoint = lambda email: (
            f"{google_url}/v1/projects/-/serviceAccounts/{email}/allowedLocations"
        )

    @staticmethod
    def _cloud_function() -> Any:
        import functions_framework

        from .gateway import with_notice

        app = functions_framework.create_app(target="customize", source=str(ROOT / "functions" / "gcp" / "main.py"))

        @app.after_request
        def notice(response: Any) -> Any:
            if response.status_code == 200 and response.is_json:
                response.set_data(with_notice(response.get_data(as_text=True)))
            return response

        return app


def _warm_up() -> None:
    """Load pydantic and the schemas now, so that the first request answers quickly."""
    from imagegen import build_request
    from imagegen.schema import TASK_MODELS

    build_request("text-to-image", {"prompt": "warm-up"})
    for model in TASK_MODELS.values():
        model.model_rebuild()


def main() -> int:
    # As in Lambda: JSON lines at the level Lambda's logging configuration would set.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper(), handlers=[handler])
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stack = LocalStack(
        port=int(os.environ.get("PORT", DEFAULT_PORT)),
        api_key=os.environ.get("IMAGEGEN_API_KEY", DEFAULT_API_KEY),
        state_dir=Path(os.environ.get("IMAGEGEN_LOCAL_DIR", ROOT / ".local")),
        blocked_word=os.environ.get("IMAGEGEN_PREVIEW_BLOCKED_WORD", "forbidden"),
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        info = stack.start()
    except AlreadyRunning as error:  # nothing started, and the running stack's files untouched
        print(f"make run: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: stop what had started
        stack.stop()
        return 130
    except BaseException:
        stack.stop()
        raise
    try:
        print(_banner(info, stack.state_dir), flush=True)
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("stopped", flush=True)
    return 0


def _banner(info: dict[str, Any], state_dir: Path) -> str:
    return f"""
serverless-imagegen local stack (images come from a preview engine, not a model)

  API            {info["api"]}
  API key        {info["apiKey"]}      (header x-api-key)
  playground     {info["api"]}/playground   (open it in a browser)
  customize      {info["customize"]}   (customization Cloud Function, Gemini by default)
  S3 (moto)      {info["s3Endpoint"]}   buckets {info["outputBucket"]}, {info["inputBucket"]}
  written to     {state_dir / "stack.json"}

  .venv/bin/imagegen text-to-image --prompt "a lighthouse at dusk" -n 2 --out out/
  .venv/bin/imagegen usage
  .venv/bin/imagegen admin keys create --name design --quota 2000 --budget-usd 150

  curl -s -X POST {info["api"]}/text-to-image -H 'x-api-key: {info["apiKey"]}' \\
       -H 'content-type: application/json' -d '{{"prompt": "a lighthouse at dusk", "aspectRatio": "16:9"}}'

Ctrl-C stops everything.
"""
