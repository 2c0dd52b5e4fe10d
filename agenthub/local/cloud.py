"""The local cloud: template.yaml deployed into the emulator and run, all on loopback.

`LocalCloud.start()` translates the template, starts the emulator, deploys every resource,
starts the function host, the SQS pollers and the local API, and writes `.agenthub/local.json`.
Nothing in it knows which resources the template has: whatever the template declares is
deployed and served, and a resource type the deployer cannot create stops start-up with its name.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer

from agenthub import LOCAL_STATE_DIR, PROJECT_ROOT
from agenthub.local.api import LocalApi
from agenthub.local.cognito import LocalCognito
from agenthub.local.console import Console, start_console
from agenthub.local.deploy import Deployer, DeploymentError, Stack
from agenthub.local.emulator import Emulator, bind
from agenthub.local.functions import FunctionHost
from agenthub.local.pollers import SqsPoller
from agenthub.local.signing import load_signing_key, private_file, public_jwks
from agenthub.template import DEFAULT_TEMPLATE, TemplateError, translate

log = logging.getLogger("agenthub.local")
STATE_DIR = LOCAL_STATE_DIR
SAMCONFIG = PROJECT_ROOT / "samconfig.toml"
LOCAL_CONFIG_ENV = "localcloud"
ACCOUNT_ID = "123456789012"
# How long stopping waits for the pollers once their deliveries have been cut short.
POLLER_STOP_SECONDS = 5
# How long stopping waits for the API calls in flight to be answered (503) once their functions stop.
API_DRAIN_SECONDS = 2


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


def already_running(state_dir: Path) -> dict[str, Any] | None:
    """The state of a local cloud still running from `state_dir`, if there is one."""
    state = state_dir / "local.json"
    if not state.exists():
        return None
    info: dict[str, Any] = json.loads(state.read_text())
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # left behind by a process that is gone
    return info if int(info["pid"]) != os.getpid() else None


class NotRunning(RuntimeError):
    """The local cloud was asked for something before start() or after stop()."""


class LocalCloud:
    def __init__(self, config: LocalCloudConfig | None = None) -> None:
        self.config = config or LocalCloudConfig()
        self.stack: Stack | None = None
        self.emulator: Emulator | None = None
        self.functions: FunctionHost | None = None
        self.api: LocalApi | None = None
        self._api_server: BaseWSGIServer | None = None
        self._pollers: list[SqsPoller] = []
        self._serving = False
        self.console: Console | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        config = self.config
        running = already_running(config.state_dir)
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
            deployer = Deployer(translation, emulator.client, config.stack_name, config.region, ACCOUNT_ID)
            missing = deployer.unsupported()
            if missing:
                raise LocalCloudError(
                    "the local cloud cannot create these resources of the template: " + ", ".join(missing)
                )
            emulator.start()
            try:
                stack = self.stack = deployer.deploy()
            except DeploymentError as error:
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
            emulator.event_sources = stack.event_sources
            self.api = self._local_api(stack, emulator, functions, logs, signing_key)
            self._start_pollers(stack, emulator, functions)
            if config.warm:
                threading.Thread(target=functions.warm_all, name="warm-functions", daemon=True).start()
            threading.Thread(target=self._api_server.serve_forever, name="local-api", daemon=True).start()
            self._serving = True
            self.console = start_console(self)
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

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
            "user_pool_id": outputs.get("UserPoolId"),
            "user_pool_client_id": outputs.get("UserPoolClientId"),
            "machine_client_id": outputs.get("MachineClientId"),
            "console_url": self.console.url if self.console else None,
            "outputs": outputs,
            "pid": os.getpid(),
            "started_at": time.time(),
        }

    def _write_state(self) -> None:
        state_dir = self.config.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        # Local users' passwords derive from it: readable by its owner only, like the signing key.
        private_file(state_dir / "local-secret", lambda: secrets.token_hex(16))
        (state_dir / "local.json").write_text(json.dumps(self.info(), indent=2, default=str) + "\n")
