"""Finding a hub and signing in to it, for the client commands (`agenthub login`, `submit`, ...).

A hub is a deployed stack, found by name through its CloudFormation outputs (the region from the
usual AWS settings), or the local cloud (`--local`, from its `local.json`). Which one a command
means: its flags (`--local`, `--stack`, `--region`), else `$AGENTHUB_STACK`, else the hub of the
last `agenthub login`, else the stack `agent-hub`; so after `agenthub login --local` the plain
commands use the local cloud, and every command the CLI suggests carries the flags it needs to
reach the same hub (`Hub.command`). People sign in through the user pool's hosted sign-in with
the authorization code grant and PKCE, the code coming back to a loopback redirect (as `aws sso
login` does), or, for a local cloud's users, with the same form filled in by the CLI (`agenthub
login --local --user NAME`); machines with client credentials.
Tokens are cached in the user's config directory, in a file only its owner may read (0600), and
renewed with the refresh token (people) or the client's secret (machines) when they expire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests

DEFAULT_STACK = "agent-hub"  # samconfig.toml's stack_name
DEFAULT_CALLBACK_URL = "http://localhost:8765/callback"  # the template's OAuthCallbackUrls default
PEOPLE_SCOPES = "openid email hub/requests.write hub/requests.read"
# Renew a little before expiry, so a token does not lapse between the check and the call.
EXPIRY_MARGIN_SECONDS = 60
LOGIN_WAIT_SECONDS = 300
HTTP_TIMEOUT = 30


class HubAccessError(Exception):
    """Something the user must fix to reach the hub; the message says what."""


class LoginRequired(HubAccessError):
    pass


@dataclass(frozen=True)
class Hub:
    """Where a hub answers, and how to sign in to it."""

    name: str  # the cache's key: "stack <name> in <region>" or "local <api url>"
    api_url: str
    token_endpoint: str
    people_client_id: str
    machine_client_id: str | None
    # The flags that choose this hub on the command line; none when plain commands reach it.
    flags: tuple[str, ...] = field(default=(), compare=False)

    @property
    def authorize_endpoint(self) -> str:
        return self.token_endpoint.rsplit("/oauth2/", 1)[0] + "/oauth2/authorize"

    def command(self, *words: str) -> str:
        """`agenthub <words>` as a command that reaches this hub when typed as printed."""
        return " ".join(["agenthub", *words, *self.flags])


@dataclass(frozen=True)
class Target:
    """Which hub a command means: the local cloud, or a deployed stack (no region: the AWS settings')."""

    local: bool = False
    stack: str = DEFAULT_STACK
    region: str | None = None

    def flags(self) -> tuple[str, ...]:
        if self.local:
            return ("--local",)
        return ("--stack", self.stack, *(("--region", self.region) if self.region else ()))

    def as_json(self) -> dict[str, Any]:
        return {"local": True} if self.local else {"stack": self.stack, "region": self.region}

    @classmethod
    def of_json(cls, value: Any) -> Target | None:
        if not isinstance(value, dict):
            return None
        if value.get("local") is True:
            return cls(local=True)
        stack, region = value.get("stack"), value.get("region")
        if isinstance(stack, str) and stack and (region is None or isinstance(region, str)):
            return cls(stack=stack, region=region)
        return None


def resolve_target(
    local: bool,
    stack: str | None,
    region: str | None,
    remembered: Target | None,
    environment: dict[str, str] | os._Environ[str],
) -> Target:
    """The hub a command means: its flags, then $AGENTHUB_STACK, then the last login's, then `agent-hub`."""
    if local:
        return Target(local=True)
    named = stack or environment.get("AGENTHUB_STACK")
    if named or region:
        if not named and remembered is not None and not remembered.local:
            named = remembered.stack  # `--region` alone: the last login's stack, in that region
        return Target(stack=named or DEFAULT_STACK, region=region)
    return remembered or Target()


def local_hub(state_dir: Path) -> Hub:
    path = state_dir / "local.json"
    if not path.exists():
        raise HubAccessError(
            f"no local cloud is running ({path} is missing): start one with `agenthub local up`"
        )
    return hub_of_local_cloud(json.loads(path.read_text()))


def hub_of_local_cloud(info: dict[str, Any]) -> Hub:
    """The hub a local cloud's local.json describes."""
    return Hub(
        name=f"local {info['api_url']}",
        api_url=info["api_url"],
        token_endpoint=info["token_endpoint"],
        people_client_id=info["user_pool_client_id"],
        machine_client_id=info.get("outputs", {}).get("MachineClientId"),
    )


def deployed_hub(stack: str, region: str | None, cloudformation: Any = None) -> Hub:
    """The stack's outputs, read with the caller's AWS credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        client = cloudformation or boto3.client("cloudformation", region_name=region)
        described = client.describe_stacks(StackName=stack)["Stacks"][0]
    except NoRegionError as error:
        raise HubAccessError(
            f"no AWS region is set to find the stack {stack} in: pass --region or set AWS_REGION (or a "
            "profile's region); for the local cloud, --local"
        ) from error
    except NoCredentialsError as error:
        raise HubAccessError(
            "no AWS credentials found to look the stack up: configure them (aws configure, aws sso login) "
            "or use --local"
        ) from error
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        where = client.meta.region_name
        if "does not exist" in message:
            raise HubAccessError(
                f"no stack named {stack} in {where}: deploy it (README, Deploying) "
                "or name yours with --stack and --region"
            ) from error
        raise HubAccessError(f"cannot read the stack {stack} in {where}: {message}") from error
    except BotoCoreError as error:
        raise HubAccessError(f"cannot reach CloudFormation to find the stack {stack}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    missing = [name for name in ("ApiUrl", "TokenEndpoint", "UserPoolClientId") if name not in outputs]
    if missing:
        raise HubAccessError(
            f"the stack {stack} has no output {', '.join(missing)}: is it an agent hub stack?"
        )
    return Hub(
        name=f"stack {stack} in {client.meta.region_name}",
        api_url=outputs["ApiUrl"],
        token_endpoint=outputs["TokenEndpoint"],
        people_client_id=outputs["UserPoolClientId"],
        machine_client_id=outputs.get("MachineClientId"),
    )


# -- the token cache ------------------------------------------------------------------------------


def config_dir() -> Path:
    override = os.environ.get("AGENTHUB_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("agenthub"))


@dataclass
class Login:
    kind: str  # "person" or "machine"
    client_id: str
    token_endpoint: str
    access_token: str
    expires_at: float
    refresh_token: str | None = None
    client_secret: str | None = None  # machines only: how the login renews itself
    username: str | None = None  # a local user signed in by name (`agenthub login --local --user`)

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at - EXPIRY_MARGIN_SECONDS


class TokenCache:
    """One JSON file of logins by hub, readable by its owner only, and beside it the hub of the
    last login (which the plain commands use)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / "logins.json"
        self.last_path = self.path.with_name("last-login.json")

    def last_target(self) -> Target | None:
        try:
            return Target.of_json(json.loads(self.last_path.read_text()))
        except (OSError, ValueError):
            return None  # none yet, or unreadable: the plain commands fall back to the default

    def remember(self, target: Target) -> None:
        self.last_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.last_path.write_text(json.dumps(target.as_json()) + "\n")

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError) as error:
            raise HubAccessError(
                f"the login cache {self.path} cannot be read ({error}): delete it and log in again"
            ) from error
        return data

    def get(self, hub: Hub) -> Login | None:
        entry = self._read().get(hub.name)
        return Login(**entry) if entry else None

    def put(self, hub: Hub, login: Login) -> None:
        data = self._read()
        data[hub.name] = asdict(login)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created 0600 before anything is written to it, and tightened if someone loosened it.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(data, file, indent=1)


# -- signing in -------------------------------------------------------------------------------------


def _token_request(
    endpoint: str, form: dict[str, str], auth: tuple[str, str] | None = None
) -> dict[str, Any]:
    try:
        response = requests.post(endpoint, data=form, auth=auth, timeout=HTTP_TIMEOUT)
    except requests.RequestException as error:
        raise HubAccessError(f"cannot reach the token endpoint {endpoint}: {error}") from error
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code != 200:
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise HubAccessError(f"the token endpoint refused the login: {reason}")
    return body


def machine_login(hub: Hub, client_id: str, client_secret: str) -> Login:
    body = _token_request(
        hub.token_endpoint, {"grant_type": "client_credentials"}, auth=(client_id, client_secret)
    )
    return Login(
        kind="machine",
        client_id=client_id,
        token_endpoint=hub.token_endpoint,
        access_token=body["access_token"],
        expires_at=time.time() + int(body.get("expires_in", 3600)),
        client_secret=client_secret,
    )


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Callback(BaseHTTPRequestHandler):
    """The loopback redirect: takes the code (or the error) from the query, once."""

    expected_path = "/callback"
    received: dict[str, str]
    arrived: threading.Event

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != self.expected_path:
            self.send_error(404)
            return
        self.received.update({name: values[-1] for name, values in parse_qs(url.query).items()})
        ok = "code" in self.received
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(
            b"Signed in to the agent hub: you can close this tab."
            if ok
            else b"The sign-in did not complete: see the terminal."
        )
        self.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:
        return  # the terminal shows the outcome; no access log lines


def person_login(
    hub: Hub,
    callback_url: str = DEFAULT_CALLBACK_URL,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
    wait_seconds: float = LOGIN_WAIT_SECONDS,
) -> Login:
    """The authorization code grant with PKCE, the code arriving at a loopback redirect."""
    callback = urlparse(callback_url)
    if callback.scheme != "http" or callback.hostname not in ("localhost", "127.0.0.1") or not callback.port:
        raise HubAccessError(f"the callback URL must be http://localhost:<port>/<path>, not {callback_url}")
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(24)
    arrived = threading.Event()
    received: dict[str, str] = {}
    handler = type(
        "Callback",
        (_Callback,),
        {"expected_path": callback.path or "/", "received": received, "arrived": arrived},
    )
    try:
        server = HTTPServer(("127.0.0.1", callback.port), handler)
    except OSError as error:
        raise HubAccessError(
            f"cannot listen on 127.0.0.1:{callback.port} for the sign-in's redirect ({error.strerror}); "
            "is another login running?"
        ) from error
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"{hub.authorize_endpoint}?" + urlencode(
            {
                "response_type": "code",
                "client_id": hub.people_client_id,
                "redirect_uri": callback_url,
                "scope": PEOPLE_SCOPES,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        announce(f"Sign in at:\n{url}")
        if open_browser:
            webbrowser.open(url)
        if not arrived.wait(wait_seconds):
            raise HubAccessError(f"no sign-in came back to {callback_url} within {wait_seconds:.0f}s")
    finally:
        server.shutdown()
        server.server_close()
    if received.get("state") != state:
        raise HubAccessError(
            f"the sign-in came back with another state: start `{hub.command('login')}` again"
        )
    if "code" not in received:
        reason = received.get("error_description") or received.get("error") or "no code"
        raise HubAccessError(f"the sign-in failed: {reason}")
    return _exchange_code(hub, received["code"], callback_url, verifier)


def _exchange_code(hub: Hub, code: str, callback_url: str, verifier: str) -> Login:
    body = _token_request(
        hub.token_endpoint,
        {
            "grant_type": "authorization_code",
            "client_id": hub.people_client_id,
            "code": code,
            "redirect_uri": callback_url,
            "code_verifier": verifier,
        },
    )
    return Login(
        kind="person",
        client_id=hub.people_client_id,
        token_endpoint=hub.token_endpoint,
        access_token=body["access_token"],
        expires_at=time.time() + int(body.get("expires_in", 3600)),
        refresh_token=body.get("refresh_token"),
    )


def password_login(
    hub: Hub,
    username: str,
    password: str,
    callback_url: str = DEFAULT_CALLBACK_URL,
    scopes: str | None = PEOPLE_SCOPES,
) -> Login:
    """The authorization code grant with PKCE, the hosted sign-in's form filled in here rather than
    in a browser: for the local cloud's own sign-in page, whose form is a plain POST to `/login`
    (Cognito's managed login adds a CSRF cookie and may ask for more than a password). The code
    is read from the redirect's Location, so nothing needs to listen on the callback URL."""
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(24)
    query = {
        "response_type": "code",
        "client_id": hub.people_client_id,
        "redirect_uri": callback_url,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **({"scope": scopes} if scopes else {}),
    }
    root = hub.authorize_endpoint.rsplit("/oauth2/", 1)[0]
    try:
        page = requests.get(hub.authorize_endpoint, params=query, timeout=HTTP_TIMEOUT)
        signed_in = (
            requests.post(
                f"{root}/login",
                data={**query, "username": username, "password": password},
                allow_redirects=False,
                timeout=HTTP_TIMEOUT,
            )
            if page.status_code == 200
            else page
        )
    except requests.RequestException as error:
        raise HubAccessError(f"cannot reach the sign-in page at {root}: {error}") from error
    if signed_in.status_code != 302:
        try:
            reason = signed_in.json().get("error_description") or signed_in.text[:200]
        except ValueError:
            reason = signed_in.text[:200] or f"HTTP {signed_in.status_code}"
        raise HubAccessError(f"the sign-in as {username} failed: {reason}")
    redirect = parse_qs(urlparse(signed_in.headers.get("Location", "")).query)
    if redirect.get("state", [""])[-1] != state or "code" not in redirect:
        raise HubAccessError("the sign-in did not redirect with this login's code and state")
    login = _exchange_code(hub, redirect["code"][-1], callback_url, verifier)
    login.username = username
    return login


def login_command(hub: Hub, login: Login | None) -> str:
    """The command that signs in to the hub again, the way the login was made."""
    if login is not None and login.username:
        return hub.command("login", "--user", login.username)
    return hub.command("login")


def current_token(hub: Hub, cache: TokenCache) -> str:
    """A valid access token for the hub: the cached one, or one renewed from the cached login."""
    login = cache.get(hub)
    if login is None:
        raise LoginRequired(f"not logged in to {hub.name}: run `{login_command(hub, None)}` first")
    if not login.expired:
        return login.access_token
    if login.kind == "machine" and login.client_secret:
        renewed = machine_login(hub, login.client_id, login.client_secret)
    elif login.refresh_token:
        try:
            body = _token_request(
                login.token_endpoint,
                {
                    "grant_type": "refresh_token",
                    "client_id": login.client_id,
                    "refresh_token": login.refresh_token,
                },
            )
        except HubAccessError as error:
            raise LoginRequired(
                f"your login to {hub.name} has expired and cannot be renewed ({error}): "
                f"run `{login_command(hub, login)}`"
            ) from error
        renewed = Login(
            kind="person",
            client_id=login.client_id,
            token_endpoint=login.token_endpoint,
            access_token=body["access_token"],
            expires_at=time.time() + int(body.get("expires_in", 3600)),
            # Cognito hands out a new refresh token only when rotation is on; keep the old one otherwise.
            refresh_token=body.get("refresh_token") or login.refresh_token,
            username=login.username,
        )
    else:
        raise LoginRequired(f"your login to {hub.name} has expired: run `{login_command(hub, login)}`")
    cache.put(hub, renewed)
    return renewed.access_token
