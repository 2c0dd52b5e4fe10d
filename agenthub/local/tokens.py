"""Access tokens for local users, obtained the way a person's client obtains them from Cognito.

A local user is created in the local user pool on first use, with a password derived from the
local cloud's own secret. The token then comes through the pool's hosted login (authorization
code with PKCE) and token endpoint, so it carries the scopes real Cognito would grant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from agenthub import LOCAL_STATE_DIR as STATE_DIR
from agenthub.hub_access import HubAccessError, Login, hub_of_local_cloud, password_login
from agenthub.local import local_client


class LocalTokenError(RuntimeError):
    pass


def load_info(state_dir: Path = STATE_DIR) -> dict[str, Any]:
    path = state_dir / "local.json"
    if not path.exists():
        raise LocalTokenError(
            f"no local cloud is running ({path} is missing): start one with `agenthub local up`"
        )
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def user_password(state_dir: Path, username: str) -> str:
    try:
        secret = (state_dir / "local-secret").read_text().strip()
    except FileNotFoundError as error:
        raise LocalTokenError(
            f"no local cloud has run from {state_dir} ({error.filename} is missing): "
            "start one with `agenthub local up`"
        ) from error
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha256).hexdigest()[:20]
    return f"Local-{digest}-9"  # meets the pool's policy: upper, lower, digit, 12+ characters


def ensure_user(info: dict[str, Any], username: str, password: str) -> None:
    cognito = local_client("cognito-idp", info["region"], info["endpoint_url"])
    pool = info["user_pool_id"]
    try:
        cognito.admin_get_user(UserPoolId=pool, Username=username)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=username,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": f"{username}@example.com"},
                {"Name": "email_verified", "Value": "true"},
            ],
        )
    cognito.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)


def _callback_url(info: dict[str, Any]) -> str:
    cognito = local_client("cognito-idp", info["region"], info["endpoint_url"])
    client = cognito.describe_user_pool_client(
        UserPoolId=info["user_pool_id"], ClientId=info["user_pool_client_id"]
    )
    return str(client["UserPoolClient"]["CallbackURLs"][0])


def user_token(
    info: dict[str, Any], username: str, scopes: list[str] | None = None, state_dir: Path = STATE_DIR
) -> str:
    """An access token for `username` (created on first use); with no scopes, all the client allows."""
    return user_login(info, username, " ".join(scopes) if scopes else None, state_dir).access_token


def user_login(info: dict[str, Any], username: str, scopes: str | None, state_dir: Path = STATE_DIR) -> Login:
    """`username` (created on first use) signed in with their local password through the pool's
    hosted sign-in and token endpoint (authorization code with PKCE), as a person's client is."""
    password = user_password(state_dir, username)
    ensure_user(info, username, password)
    try:
        return password_login(hub_of_local_cloud(info), username, password, _callback_url(info), scopes)
    except HubAccessError as error:
        raise LocalTokenError(str(error)) from error
