"""The local cloud: template.yaml deployed into the emulator and run, all on loopback.

`LocalCloud.start()` translates the template, starts the emulator, puts back the state saved by
the last run (with `keep_state`: `agenthub.local.persistence`), deploys every resource over it,
starts the function host, the SQS pollers and the local API, and writes `.agenthub/local.json`;
`stop()` saves the state again before the functions stop.
Nothing in it knows which resources the template has: whatever the template declares is
deployed and served, and a resource type the deployer cannot create stops start-up with its name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer

from agenthub import LOCAL_STATE_DIR, PROJECT_ROOT
from agenthub.local import activity, persistence
from agenthub.local.activity import Activity, NeverHappened
from agenthub.local.adopt import CannotAdopt, adopting
from agenthub.local.api import LocalApi
from agenthub.local.cognito import LocalCognito
from agenthub.local.console import Console, start_console
from agenthub.local.creators import DELETERS, is_custom_resource
from agenthub.local.deploy import Deployer, DeploymentError, Stack
from agenthub.local.emulator import Emulator, bind
from agenthub.local.functions import FunctionHost
from agenthub.local.invoke import running_cloud
from agenthub.local.pollers import SqsPoller
from agenthub.local.sample_events import resource_table
from agenthub.local.scheduler import Scheduler, schedules_of
from agenthub.local.signing import load_signing_key, private_file, public_jwks
from agenthub.local.snapshot import Interrupted
from agenthub.template import DEFAULT_TEMPLATE, TemplateError, load_sam_template, translate

T = TypeVar("T")
log = logging.getLogger("agenthub.local")
STATE_DIR = LOCAL_STATE_DIR
SAMCONFIG = PROJECT_ROOT / "samconfig.toml"
TOOLS_DIR = PROJECT_ROOT / "tools"
# How long start-up waits for the deployed tools to reach the registry (through the hub).
REGISTRY_WAIT_SECONDS = 30
CUSTOM_RESOURCE_SECONDS = 60
LOCAL_CONFIG_ENV = "localcloud"
ACCOUNT_ID = "123456789012"
# How long stopping waits for the pollers once their deliveries have been cut short.
POLLER_STOP_SECONDS = 5
# How long stopping waits for the API calls in flight to be answered (503) once their functions stop.
API_DRAIN_SECONDS = 2
# How long a wait for quiet lasts unless told: the longest local chain (an agent run at its time budget).
QUIET_TIMEOUT_SECONDS = 120
# The longest one control request waits (`GET /_agenthub/activity?quiet=` or `?after=`); a client asks again.
CONTROL_WAIT_SECONDS = 20


class LocalCloudError(RuntimeError):
    """The local cloud cannot start; the message says why and what to do."""


def samconfig_overrides(path: Path = SAMCONFIG) -> dict[str, str]:
    """The local cloud's parameter overrides: `[localcloud.global.parameters]` in samconfig.toml."""
    if not path.exists():
        return {}
    config = tomllib.loads(path.read_text())
    overrides = (
        config.get(LOCAL_CONFIG_ENV, {})
        .get("global", {})
        .get("parameters", {})
        .get("parameter_overrides", [])
    )
    if isinstance(overrides, str):
        overrides = overrides.split()
    return dict(item.split("=", 1) for item in overrides)


@dataclass
class LocalCloudConfig:
    template: Path = DEFAULT_TEMPLATE
    stack_name: str = "agent-hub"
    region: str = "us-east-1"
    host: str = "127.0.0.1"
    api_port: int = 3000
    emulator_port: int | None = None  # api_port + 1 unless given; 0 picks a free port
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    state_dir: Path = STATE_DIR
    concurrency: int = 2
    warm: bool = True
    # Every stack under this folder (tools/<name>/template.yaml) is deployed after the hub's; None: none.
    tools_dir: Path | None = TOOLS_DIR
    # Keep the emulator's data in state_dir between runs (`agenthub local up` does); fresh: wipe it first.
    keep_state: bool = False
    # Run the template's EventBridge schedules (the sweeper's) on time; off, `scheduler.fire` still runs one.
    run_schedules: bool = True
    fresh: bool = False


def custom_resource_responses_bucket(region: str) -> str:
    """Where custom resources answer CloudFormation locally (CloudFormation's own bucket's name)."""
    return f"cloudformation-custom-resource-response-{region.replace('-', '')}"


def open_custom_resource_responses(s3: Any, region: str) -> str:
    """The bucket custom resources answer in, made if missing, open to their answers' PUTs."""
    bucket = custom_resource_responses_bucket(region)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
        # The answer URL is all a function needs, as CloudFormation's presigned URL is (the
        # emulator checks no signature): a PUT to it needs no credentials, and may be repeated.
        statement = {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
        s3.put_bucket_policy(
            Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        )
    return bucket


class NotRunning(RuntimeError):
    """The local cloud was asked for something before start() or after stop()."""


class LocalCloud:
    def __init__(self, config: LocalCloudConfig | None = None) -> None:
        self.config = config or LocalCloudConfig()
        self.stack: Stack | None = None
        self.emulator: Emulator | None = None
        self.functions: FunctionHost | None = None
        self.api: LocalApi | None = None
        self.stacks: dict[str, Stack] = {}  # every stack deployed, the hub's first
        self.templates: dict[str, Path] = {}  # the template each stack beside the hub's came from
        self._layers: dict[str, Path] = {}
        self._api_server: BaseWSGIServer | None = None
        self._pollers: list[SqsPoller] = []
        self._serving = False
        self.console: Console | None = None
        self.scheduler: Scheduler | None = None  # EventBridge schedules (the sweeper's)
        self.restored: persistence.Restored | None = None  # what the start put back
        self.saved: dict[str, Any] | None = None  # what the stop saved (persistence.LocalState.save)
        self._saving = False  # only a cloud that started whole saves: a failed start keeps the last state

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        config = self.config
        running = running_cloud(config.state_dir)
        if running:
            raise LocalCloudError(
                f"a local cloud is already running (process {running['pid']}, {running['api_url']}); "
                "stop it, or give this one its own state folder with AGENTHUB_STATE_DIR"
            )
        overrides = {**samconfig_overrides(), **config.parameter_overrides}
        try:
            translation = translate(config.template, overrides, config.region)
        except TemplateError as error:
            raise LocalCloudError(f"the template cannot be translated: {error}") from error
        emulator_port = config.emulator_port
        if emulator_port is None:
            emulator_port = config.api_port + 1 if config.api_port else 0
        self._api_server = bind(config.host, config.api_port, self._serve_api)
        try:
            self._log_emulator_to_file(config.state_dir / "logs" / "emulator.log")
            emulator = self.emulator = Emulator(config.region, ACCOUNT_ID, config.host, emulator_port)
            signing_key = load_signing_key(config.state_dir)
            emulator.jwks = public_jwks(signing_key)
            # Over a restored state, the deployer's creates adopt what exists (agenthub.local.adopt).
            deployer = Deployer(
                translation,
                adopting(emulator.client),
                config.stack_name,
                config.region,
                ACCOUNT_ID,
                layers=self._layers,
                custom_resources=self._answer_custom_resource,
            )
            missing = deployer.unsupported()
            if missing:
                raise LocalCloudError(
                    "the local cloud cannot create these resources of the template: " + ", ".join(missing)
                )
            self._add_controls(emulator)
            emulator.start()
            interrupted = self._restore_state(emulator)
            try:
                stack = self.stack = deployer.deploy()
            except (DeploymentError, CannotAdopt) as error:
                raise LocalCloudError(f"the template cannot be deployed locally: {error}") from error
            logs = config.state_dir / "logs"
            functions = self.functions = FunctionHost(
                stack.functions,
                config.region,
                emulator.url,
                logs,
                concurrency=config.concurrency,
                faults=emulator.invoke_fault,
            )
            emulator.functions = functions
            emulator.event_sources = list(stack.event_sources)
            self.stacks[stack.name] = stack
            self.api = self._local_api(stack, emulator, functions, logs, signing_key)
            self._start_pollers(stack, emulator, functions)
            for tool_template in self._tool_templates():
                self.deploy_stack(tool_template)
            self._wait_for_registry()
            self._start_scheduler(functions)
            if config.warm:
                threading.Thread(target=functions.warm_all, name="warm-functions", daemon=True).start()
            threading.Thread(target=self._api_server.serve_forever, name="local-api", daemon=True).start()
            self._serving = True
            self.console = start_console(self)
            persistence.start_again(interrupted, emulator.client("stepfunctions"))
            self._saving = config.keep_state
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_scheduler(self, functions: FunctionHost) -> None:
        schedules = schedules_of(self.stacks.values())
        self.scheduler = Scheduler(schedules, functions.invoke, self.config.region, ACCOUNT_ID)
        if self.config.run_schedules:
            self.scheduler.start()

    # -- stacks beside the hub's (tools) ---------------------------------------------------------

    def _tool_templates(self) -> list[Path]:
        folder = self.config.tools_dir
        return sorted(folder.glob("*/template.yaml")) if folder is not None and folder.is_dir() else []

    def deploy_stack(self, template: Path) -> Stack:
        """Deploys a stack that imports the hub's exports (a tool), as `sam deploy` would beside it."""
        if self.stack is None or self.emulator is None or self.functions is None:
            raise NotRunning("the local cloud is not running")
        name = f"{self.config.stack_name}-{template.parent.name.replace('_', '-')}"
        declared = load_sam_template(template).get("Parameters", {})
        # The hub stack's name, and the local overrides this stack declares too (its timeouts).
        overrides = {
            key: value
            for key, value in {**samconfig_overrides(), **self.config.parameter_overrides}.items()
            if key in declared
        }
        if "HubStackName" in declared:
            overrides["HubStackName"] = self.stack.name
        try:
            translation = translate(template, overrides, self.config.region)
            deployer = Deployer(
                translation,
                adopting(self.emulator.client),
                name,
                self.config.region,
                ACCOUNT_ID,
                exports=self._exports(),
                layers=self._layers,
                custom_resources=self._answer_custom_resource,
            )
            # A custom resource's function may run during the deployment: host the functions first.
            stack = deployer.deploy()
        except (TemplateError, DeploymentError) as error:
            raise LocalCloudError(
                f"{template.relative_to(PROJECT_ROOT)} cannot be deployed locally: {error}"
            ) from error
        self.functions.add(stack.functions.values())
        self.emulator.event_sources.extend(stack.event_sources)
        self._start_pollers(stack, self.emulator, self.functions)
        self.stacks[name] = stack
        self.templates[name] = template
        return stack

    def delete_stack(self, name: str) -> None:
        """Deletes a tool stack as CloudFormation would: its custom resources are told (the tool is
        withdrawn from the registry), its subscriptions end, its functions stop."""
        if self.emulator is None or self.functions is None:
            raise NotRunning("the local cloud is not running")
        stack = self.stacks.pop(name)
        for logical_id, kind in stack.types.items():
            if is_custom_resource(kind):
                properties = stack.properties[logical_id]
                self._answer_custom_resource(
                    properties["ServiceToken"],
                    {
                        "RequestType": "Delete",
                        "ServiceToken": properties["ServiceToken"],
                        "StackId": stack.stack_id,
                        "RequestId": str(uuid.uuid4()),
                        "LogicalResourceId": logical_id,
                        "PhysicalResourceId": stack.ref(logical_id),
                        "ResourceProperties": properties,
                    },
                )
        sns = self.emulator.client("sns")
        for part in stack.walk():
            for subscription in part.of_type("AWS::SNS::Subscription").values():
                sns.unsubscribe(SubscriptionArn=subscription.ref)
        for poller in [p for p in self._pollers if p.spec in stack.event_sources]:
            poller.request_stop()
            poller.join(time.monotonic() + POLLER_STOP_SECONDS)
            self._pollers.remove(poller)
        self.emulator.event_sources = [s for s in self.emulator.event_sources if s not in stack.event_sources]
        self.functions.remove(stack.functions.values())
        self._delete_resources(stack)

    def _delete_resources(self, stack: Stack) -> None:
        """Every resource CloudFormation would delete, the last made first (nested stacks inside out)."""
        assert self.emulator is not None  # noqa: S101 - checked by delete_stack
        for logical_id in reversed(stack.resources):
            kind = stack.types[logical_id]
            if kind == "AWS::CloudFormation::Stack":
                self._delete_resources(stack.nested[logical_id])
            elif kind in DELETERS:
                DELETERS[kind](self.emulator.client, stack.ref(logical_id))

    def _exports(self) -> dict[str, Any]:
        return {name: value for stack in self.stacks.values() for name, value in stack.exports.items()}

    def _answer_custom_resource(self, service_token: str, request: dict[str, Any]) -> dict[str, Any]:
        """Invokes a custom resource's function with CloudFormation's request and reads its answer,
        as CloudFormation does: the function PUTs it to a presigned URL of an S3 bucket of its own.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html"""
        if self.emulator is None or self.functions is None:
            raise NotRunning("the local cloud is not running")
        s3 = self.emulator.client("s3")
        bucket = open_custom_resource_responses(s3, self.config.region)
        key = f"{request['StackId']}|{request['LogicalResourceId']}|{request['RequestId']}"
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=7200)
        result = self.functions.invoke(service_token, json.dumps({**request, "ResponseURL": url}).encode())
        if result.function_error:
            return {
                "Status": "FAILED",
                "Reason": f"the custom resource's function failed: {result.payload[:300]!r}",
            }

        def answered() -> dict[str, Any] | None:
            try:
                answer: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                return None
            return answer

        try:
            answer = self.wait_for(
                answered,
                CUSTOM_RESOURCE_SECONDS,
                f"{request['LogicalResourceId']}'s answer to CloudFormation",
            )
        except NeverHappened:
            return {
                "Status": "FAILED",
                "Reason": "the custom resource's function never answered CloudFormation",
            }
        s3.delete_object(Bucket=bucket, Key=key)
        return answer

    def registered_tools(self) -> list[str]:
        """The tools in the hub's registry now (functions/contracts/catalog.py's rows: the tooling
        does not import the functions' code)."""
        if self.stack is None or self.emulator is None:
            raise NotRunning("the local cloud is not running")
        dynamodb = self.emulator.client("dynamodb")
        pages = dynamodb.get_paginator("query").paginate(
            TableName=self.stack.ref("CatalogTable"),
            KeyConditionExpression="pk = :tools",
            ExpressionAttributeValues={":tools": {"S": "TOOLS"}},
        )
        return sorted(
            item["sk"]["S"]
            for page in pages
            for item in page["Items"]
            if not item.get("withdrawn", {}).get("BOOL")
        )

    def _wait_for_registry(self) -> None:
        """Registration travels through the hub: wait until the deployed tools are in the registry."""
        expected = {
            str(stack.properties[logical_id].get("Name"))
            for stack in self.stacks.values()
            for logical_id, kind in stack.types.items()
            if is_custom_resource(kind)
        }
        try:
            self.wait_for(
                lambda: expected <= set(self.registered_tools()),
                REGISTRY_WAIT_SECONDS,
                "the deployed tools' registration",
            )
        except NeverHappened as error:
            missing = ", ".join(sorted(expected - set(self.registered_tools())))
            raise LocalCloudError(
                f"these tools never reached the registry: {missing} (see the logs); {error}"
            ) from error

    @staticmethod
    def _log_emulator_to_file(path: Path) -> None:
        """moto reports every caught state error at ERROR level: useful when debugging, noise otherwise."""
        path.parent.mkdir(parents=True, exist_ok=True)
        emulator_log = logging.getLogger("moto")
        if not any(isinstance(handler, logging.FileHandler) for handler in emulator_log.handlers):
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            emulator_log.addHandler(handler)
        emulator_log.propagate = False

    def _local_api(
        self, stack: Stack, emulator: Emulator, functions: FunctionHost, logs: Path, signing_key: RSAKey
    ) -> LocalApi:
        apis = list(stack.rest_apis.values())
        if len(apis) != 1 or len(apis[0].stages) != 1:
            raise LocalCloudError("the local cloud serves templates with exactly one REST API stage")
        (api,) = apis
        (stage,) = api.stages.values()
        cognito = LocalCognito(emulator.client("cognito-idp"), self.config.region, emulator.url, signing_key)
        return LocalApi(
            api,
            stage,
            functions,
            cognito,
            region=self.config.region,
            account_id=stack.account_id,
            access_log=logs / "api-access.log",
        )

    def _serve_api(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.api is None:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"message": "the local cloud is starting"}']
        return self.api(environ, start_response)

    # -- what is still pending (agenthub.local.activity) ----------------------------------------

    def activity(self) -> Activity:
        """What the local cloud still has to do now, read at one moment."""
        if self.emulator is None:
            raise NotRunning("the local cloud is not running")
        return activity.sample(activity.CHANGES, self._pending)

    def _pending(self) -> dict[str, Any]:
        api = self.api
        return activity.pending_work(
            ACCOUNT_ID,
            self.config.region,
            list(self._pollers),
            self.functions,
            api.calls_in_flight if api is not None else 0,
        )

    def wait_change(self, after: int, timeout: float) -> int:
        return activity.CHANGES.wait_after(after, timeout)

    def settle(self, timeout: float = QUIET_TIMEOUT_SECONDS) -> Activity:
        """Waits until the local cloud is quiet, at most `timeout` seconds; the last reading."""
        return activity.settle(self, timeout)

    def wait_quiet(self, timeout: float = QUIET_TIMEOUT_SECONDS) -> Activity:
        """Waits until everything started has finished; `activity.NotQuiet`, naming what was still
        pending, at the deadline."""
        return activity.wait_quiet(self, timeout)

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        """The first true value of `predicate`, asked again on every change in the local cloud;
        `activity.NeverHappened`, naming `what` and what was pending, at the deadline."""
        return activity.wait_for(self, predicate, timeout, what)  # type: ignore[return-value]

    def _add_controls(self, emulator: Emulator) -> None:
        emulator.controls["/_agenthub/activity"] = self._activity_control
        emulator.controls["/_agenthub/throttle"] = self._throttle_control

    def _activity_control(
        self, method: str, query: dict[str, list[str]], _: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """`GET /_agenthub/activity`: what is pending now; `?after=G&wait=S`: once the counter has passed
        G (or S seconds); `?quiet=S`: once the local cloud is quiet (or S seconds), quiet or not."""
        json_headers = {"Content-Type": "application/json"}
        if method != "GET":
            return 405, json_headers, b'{"message": "GET /_agenthub/activity"}'
        try:
            after = int(query["after"][0]) if "after" in query else None
            wait = min(float(query.get("wait", ["0"])[0]), CONTROL_WAIT_SECONDS)
            quiet = min(float(query["quiet"][0]), CONTROL_WAIT_SECONDS) if "quiet" in query else None
        except ValueError as error:
            return 400, json_headers, json.dumps({"message": f"not a number: {error}"}).encode()
        try:
            if quiet is not None:
                answer = self.settle(max(0.0, quiet))
            else:
                if after is not None:
                    self.wait_change(after, max(0.0, wait))
                answer = self.activity()
        except NotRunning as error:
            return 503, json_headers, json.dumps({"message": str(error)}).encode()
        return 200, json_headers, json.dumps(answer.to_json()).encode()

    def _throttle_control(
        self, method: str, _: dict[str, list[str]], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """`/_agenthub/throttle`: the local API's stage throttle; POST `{"refill": true}` fills its bucket,
        `{"hold": true}` stops its refill until `{"hold": false}` (a burst then meets a known bucket)."""
        json_headers = {"Content-Type": "application/json"}
        bucket = self.api.throttle if self.api is not None else None
        if bucket is None:
            return 404, json_headers, b'{"message": "the local API\'s stage has no throttle"}'
        if method == "POST":
            try:
                asked = json.loads(body or b"{}")
                if not isinstance(asked, dict) or set(asked) - {"refill", "hold"}:
                    raise ValueError('expected {"refill": true|false, "hold": true|false}')
                if not all(isinstance(value, bool) for value in asked.values()):
                    raise ValueError("refill and hold are true or false")
            except ValueError as error:
                return 400, json_headers, json.dumps({"message": str(error)}).encode()
            if asked.get("hold") is True:
                bucket.hold()
            elif asked.get("hold") is False:
                bucket.release()
            if asked.get("refill"):
                bucket.refill()
        elif method != "GET":
            return 405, json_headers, b'{"message": "GET or POST /_agenthub/throttle"}'
        return 200, json_headers, json.dumps(bucket.state()).encode()

    def _start_pollers(self, stack: Stack, emulator: Emulator, functions: FunctionHost) -> None:
        sqs = emulator.client("sqs")
        for spec in stack.event_sources:
            if spec.enabled:
                poller = SqsPoller(
                    spec, sqs, functions, self.config.region, pollers=min(2, self.config.concurrency)
                )
                poller.start()
                self._pollers.append(poller)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.api is not None:
            self.api.begin_stopping()
        if self.console is not None:
            self.console.stop()
            self.console = None
        # Every poller stops taking batches at once, and killing the workers ends the deliveries in
        # flight, so stopping takes about a second however many subscriptions there are.
        for poller in self._pollers:
            poller.request_stop()
        if self._api_server is not None:
            if self._serving:
                self._api_server.shutdown()
            self._api_server.server_close()
            self._api_server = None
            self._serving = False
        # Before the functions stop: what they were doing is then still in the state, to be redone.
        self._save_state()
        if self.functions is not None:
            self.functions.stop()
            self.functions = None
        if self.api is not None:
            self.api.wait_idle(API_DRAIN_SECONDS)
        deadline = time.monotonic() + POLLER_STOP_SECONDS
        for poller in self._pollers:
            poller.join(deadline)
        self._pollers.clear()
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self.api is not None:
            self.api.close()
        state = self.config.state_dir / "local.json"
        if state.exists() and json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()

    # -- state kept between runs (agenthub.local.persistence) ------------------------------------

    def _restore_state(self, emulator: Emulator) -> list[Interrupted]:
        if not self.config.keep_state:
            return []
        state = persistence.LocalState(self.config.state_dir)
        if self.config.fresh:
            state.wipe(logs=False)
        try:
            self.restored = state.load()
        except persistence.StateUnreadable as error:
            raise LocalCloudError(str(error)) from error
        return persistence.restore(self.restored, emulator) if self.restored else []

    def _save_state(self) -> None:
        if self._saving and self.emulator is not None:
            self._saving = False
            try:
                self.saved = persistence.LocalState(self.config.state_dir).save(self.emulator)
            except Exception:  # stopping must go on; the last saved state is still whole (atomic write)
                log.exception("the local cloud's state could not be saved; the last saved state is kept")

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- what callers need --------------------------------------------------------------------

    @property
    def api_root(self) -> str:
        if self._api_server is None:
            raise NotRunning("the local cloud is not running")
        return f"http://{self.config.host}:{self._api_server.server_port}"

    @property
    def api_url(self) -> str:
        if self.api is None:
            raise NotRunning("the local cloud is not running")
        return f"{self.api_root}/{self.api.stage.name}"

    def info(self) -> dict[str, Any]:
        if self.stack is None or self.emulator is None:
            raise NotRunning("the local cloud is not running")
        # The stack's URLs as the local cloud serves them, not as an AWS deployment would.
        outputs = {
            **self.stack.outputs,
            "ApiUrl": self.api_url,
            "TokenEndpoint": f"{self.api_root}/oauth2/token",
        }
        return {
            "api_url": self.api_url,
            "token_endpoint": f"{self.api_root}/oauth2/token",
            "authorize_endpoint": f"{self.api_root}/oauth2/authorize",
            "endpoint_url": self.emulator.url,
            "region": self.config.region,
            "stack_name": self.config.stack_name,
            "account_id": self.stack.account_id,
            "user_pool_id": outputs.get("UserPoolId"),
            "user_pool_client_id": outputs.get("UserPoolClientId"),
            "machine_client_id": outputs.get("MachineClientId"),
            "console_url": self.console.url if self.console else None,
            "outputs": outputs,
            # Every resource's type, Ref and attributes, by logical id (`Parent.Child` when nested):
            # what the sample events' `${...}` name (agenthub.local.sample_events).
            "resources": resource_table(self.stack),
            "template": str(self.config.template),
            # The stacks beside the hub's (the tools'), likewise: `agenthub local invoke` runs theirs too.
            "stacks": {
                name: {
                    "template": str(self.templates.get(name, "")),
                    "resources": resource_table(stack),
                    "outputs": stack.outputs,
                }
                for name, stack in self.stacks.items()
                if stack is not self.stack
            },
            "pid": os.getpid(),
            "started_at": time.time(),
        }

    def _write_state(self) -> None:
        state_dir = self.config.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        # Local users' passwords derive from it: readable by its owner only, like the signing key.
        private_file(state_dir / "local-secret", lambda: secrets.token_hex(16))
        (state_dir / "local.json").write_text(json.dumps(self.info(), indent=2, default=str) + "\n")
