"""Access tokens for local users, obtained the way a person's client obtains them from Cognito.

A local user is created in the local user pool on first use, with a password derived from the
local cloud's own secret. The token then comes through the pool's hosted login (authorization
code with PKCE) and token endpoint, so it carries the scopes real Cognito would grant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from agenthub import LOCAL_STATE_DIR as STATE_DIR
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
    secret = (state_dir / "local-secret").read_text().strip()
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
    password = user_password(state_dir, username)
    ensure_user(info, username, password)
    api_root = info["token_endpoint"].rsplit("/oauth2/", 1)[0]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = _callback_url(info)
    form = {
        "response_type": "code",
        "client_id": info["user_pool_client_id"],
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(8),
        "username": username,
        "password": password,
    }
    if scopes:
        form["scope"] = " ".join(scopes)
    login = requests.post(f"{api_root}/login", data=form, allow_redirects=False, timeout=30)
    if login.status_code != 302:
        raise LocalTokenError(f"local sign-in failed ({login.status_code}): {login.text}")
    code = parse_qs(urlparse(login.headers["Location"]).query)["code"][0]
    token = requests.post(
        info["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "client_id": info["user_pool_client_id"],
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    if token.status_code != 200:
        raise LocalTokenError(f"the token endpoint refused the code ({token.status_code}): {token.text}")
    return str(token.json()["access_token"])
