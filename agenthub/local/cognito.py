"""What moto's Cognito lacks for the hub: the OAuth2 endpoints that issue scoped access tokens.

moto has no hosted login or token endpoint, and always puts `aws.cognito.signin.user.admin` in
the scope. Real Cognito gives the resource-server scopes only to tokens from its OAuth2 endpoints:
the authorization code grant (PKCE) for people and client credentials for machines. This module
provides those endpoints, with the scopes real Cognito would grant, signed with the local cloud's
own key (`agenthub.local.signing`: one per state folder, never the key moto ships), which the
emulator serves as the pool's JWKS:

- `GET /oauth2/authorize`: the hosted login page (a plain form).
- `POST /login`: checks the user's password with the pool (moto), redirects with a code.
- `POST /oauth2/token`: `authorization_code` (+ PKCE), `refresh_token` and `client_credentials` grants.
  As in Cognito, the code grant also hands out a refresh token, and the refresh grant new ID and
  access tokens without a new refresh token (no rotation):
  https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-refresh-token.html
  Refresh tokens live as long as the local cloud runs: a restart asks people to log in again.

It also verifies tokens for the local API's authorizer, the way API Gateway's Cognito authorizer
does: signature against the pool's JWKS, issuer, expiry, token use, and a client of the pool. A
token it cannot read, or that lacks a claim every Cognito access token carries, is refused (401),
never an error of the local API's own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import requests
from botocore.exceptions import BotoCoreError, ClientError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 30 * 86_400  # the template's RefreshTokenValidity (30 days)
# Claims every Cognito access token carries, and their JSON types (a bool is not a number here).
REQUIRED_ACCESS_CLAIMS: dict[str, type] = {
    "sub": str,
    "iss": str,
    "client_id": str,
    "token_use": str,
    "scope": str,
    "exp": int,
    "iat": int,
    "jti": str,
}
# An app client id as Cognito makes them (and as its API's ClientId accepts them).
_CLIENT_ID = re.compile(r"^[\w+]{1,128}$")


class AuthError(Exception):
    """A token, client or login the endpoints refuse; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 401, oauth_error: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.oauth_error = oauth_error


@dataclass(frozen=True)
class PendingCode:
    pool_id: str
    client_id: str
    username: str
    subject: str
    scopes: tuple[str, ...]
    redirect_uri: str
    challenge: str
    expires: float


def _pkce(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class LocalCognito:
    def __init__(self, cognito: Any, region: str, emulator_url: str, signing_key: RSAKey) -> None:
        self._cognito = cognito
        self._region = region
        self._emulator_url = emulator_url
        self._key = signing_key
        self._codes: dict[str, PendingCode] = {}
        self._refresh_tokens: dict[str, PendingCode] = {}  # what each refresh token renews
        self._jwks: dict[str, KeySet] = {}
        self._lock = threading.Lock()

    def issuer(self, pool_id: str) -> str:
        return f"https://cognito-idp.{self._region}.amazonaws.com/{pool_id}"

    # -- issuing ------------------------------------------------------------------------------

    def _client(self, pool_id: str, client_id: str) -> dict[str, Any]:
        if not _CLIENT_ID.match(client_id):
            raise AuthError("not an app client id", 401, "invalid_client")
        try:
            client: dict[str, Any] = self._cognito.describe_user_pool_client(
                UserPoolId=pool_id, ClientId=client_id
            )["UserPoolClient"]
        except self._cognito.exceptions.ResourceNotFoundException as error:
            raise AuthError(f"unknown client {client_id}", 401, "invalid_client") from error
        return client

    def _pool_for_client(self, client_id: str) -> str:
        for pool in self._cognito.list_user_pools(MaxResults=60)["UserPools"]:
            clients = self._cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)[
                "UserPoolClients"
            ]
            if any(client["ClientId"] == client_id for client in clients):
                return str(pool["Id"])
        raise AuthError(f"unknown client {client_id}", 401, "invalid_client")

    @staticmethod
    def _granted(client: dict[str, Any], requested: str | None) -> tuple[str, ...]:
        allowed = list(client.get("AllowedOAuthScopes", []))
        if not requested:
            return tuple(allowed)
        scopes = requested.split()
        refused = [scope for scope in scopes if scope not in allowed]
        if refused:
            raise AuthError(f"scopes not allowed for this client: {' '.join(refused)}", 400, "invalid_scope")
        return tuple(scopes)

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT of these claims, signed with the pool's key (the endpoints' tokens; tests' odd ones)."""
        return jwt.encode({"alg": "RS256", "kid": self._key.kid}, claims, self._key)

    def access_token(
        self,
        pool_id: str,
        client_id: str,
        subject: str,
        scopes: tuple[str, ...],
        username: str | None,
        expires_in: int = ACCESS_TOKEN_SECONDS,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self.issuer(pool_id),
            "client_id": client_id,
            "origin_jti": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "exp": now + expires_in,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "version": 2,
        }
        if username:
            claims["username"] = username
        return self.sign(claims)

    def id_token(self, pool_id: str, client_id: str, subject: str, username: str) -> str:
        now = int(time.time())
        return self.sign(
            {
                "sub": subject,
                "iss": self.issuer(pool_id),
                "aud": client_id,
                "token_use": "id",
                "cognito:username": username,
                "auth_time": now,
                "exp": now + ACCESS_TOKEN_SECONDS,
                "iat": now,
                "jti": str(uuid.uuid4()),
            }
        )

    # -- the hosted login and the token endpoint ----------------------------------------------------

    def login_page(self, query: dict[str, str]) -> str:
        fields = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in query.items()
        )
        return (
            "<!doctype html><title>Agent hub: sign in (local)</title>"
            '<form method="post" action="/login">'
            f'{fields}<label>Username <input name="username"></label> '
            '<label>Password <input name="password" type="password"></label> <button>Sign in</button></form>'
        )

    def login(self, form: dict[str, str]) -> str:
        """Checks the user's credentials and returns the redirect URL carrying the authorization code."""
        client_id = form.get("client_id", "")
        pool_id = self._pool_for_client(client_id)
        client = self._client(pool_id, client_id)
        if form.get("response_type") != "code" or "code" not in client.get("AllowedOAuthFlows", []):
            raise AuthError(
                "this client may not use the authorization code grant", 400, "unauthorized_client"
            )
        redirect_uri = form.get("redirect_uri", "")
        if redirect_uri not in client.get("CallbackURLs", []):
            raise AuthError(f"redirect_uri {redirect_uri!r} is not a callback URL of this client", 400)
        if form.get("code_challenge_method", "S256") != "S256" or not form.get("code_challenge"):
            raise AuthError("PKCE with code_challenge_method=S256 is required", 400)
        username = form.get("username", "")
        try:
            self._cognito.admin_initiate_auth(
                UserPoolId=pool_id,
                ClientId=client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": form.get("password", "")},
            )
            user = self._cognito.admin_get_user(UserPoolId=pool_id, Username=username)
        except (ClientError, BotoCoreError) as error:  # BotoCoreError: an empty username or password
            raise AuthError("incorrect username or password", 401, "access_denied") from error
        subject = next(
            attribute["Value"] for attribute in user["UserAttributes"] if attribute["Name"] == "sub"
        )
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = PendingCode(
                pool_id,
                client_id,
                username,
                subject,
                self._granted(client, form.get("scope")),
                redirect_uri,
                form["code_challenge"],
                time.time() + 300,
            )
        query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        return f"{redirect_uri}?{urlencode(query)}"

    def token(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                credentials = base64.b64decode(authorization[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as error:
                raise AuthError("malformed Basic credentials", 401, "invalid_client") from error
            client_id, _, secret = credentials.partition(":")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self._client_credentials(client_id, secret, form.get("scope"))
        if grant == "authorization_code":
            return self._exchange_code(client_id, form)
        if grant == "refresh_token":
            return self._refresh(client_id, form.get("refresh_token", ""))
        raise AuthError(f"unsupported grant_type {grant!r}", 400, "unsupported_grant_type")

    def _client_credentials(self, client_id: str, secret: str | None, scope: str | None) -> dict[str, Any]:
        pool_id = self._pool_for_client(client_id)
        client = self._client(pool_id, client_id)
        # As bytes: compare_digest refuses a str with characters outside ASCII.
        expected, offered = str(client.get("ClientSecret") or "").encode(), (secret or "").encode()
        if not expected or not secrets.compare_digest(expected, offered):
            raise AuthError("invalid client credentials", 401, "invalid_client")
        if "client_credentials" not in client.get("AllowedOAuthFlows", []):
            raise AuthError("this client may not use client credentials", 400, "unauthorized_client")
        scopes = self._granted(client, scope)
        token = self.access_token(pool_id, client_id, client_id, scopes, None)
        return {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS}

    def _exchange_code(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            pending = self._codes.pop(form.get("code", ""), None)
        if pending is None or pending.expires < time.time() or pending.client_id != client_id:
            raise AuthError("the authorization code is invalid or expired", 400, "invalid_grant")
        if form.get("redirect_uri") != pending.redirect_uri:
            raise AuthError("redirect_uri does not match the authorization request", 400, "invalid_grant")
        if _pkce(form.get("code_verifier", "")) != pending.challenge:
            raise AuthError("code_verifier does not match the code challenge", 400, "invalid_grant")
        body: dict[str, Any] = {
            "access_token": self.access_token(
                pending.pool_id, client_id, pending.subject, pending.scopes, pending.username
            ),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }
        if "openid" in pending.scopes:
            body["id_token"] = self.id_token(pending.pool_id, client_id, pending.subject, pending.username)
        refresh_token = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh_tokens[refresh_token] = PendingCode(
                **{**pending.__dict__, "expires": time.time() + REFRESH_TOKEN_SECONDS}
            )
        body["refresh_token"] = refresh_token
        return body

    def _refresh(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        with self._lock:
            granted = self._refresh_tokens.get(refresh_token)
        if granted is None or granted.expires < time.time() or granted.client_id != client_id:
            raise AuthError("the refresh token is invalid or expired", 400, "invalid_grant")
        body: dict[str, Any] = {
            "access_token": self.access_token(
                granted.pool_id, client_id, granted.subject, granted.scopes, granted.username
            ),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }
        if "openid" in granted.scopes:
            body["id_token"] = self.id_token(granted.pool_id, client_id, granted.subject, granted.username)
        return body

    # -- verifying, for the local API's authorizer ------------------------------------------------

    def _keys(self, pool_id: str) -> KeySet:
        with self._lock:
            keys = self._jwks.get(pool_id)
        if keys is None:
            response = requests.get(
                f"{self._emulator_url}/{pool_id}/.well-known/jwks.json",
                headers={"Host": f"cognito-idp.{self._region}.amazonaws.com"},
                timeout=10,
            )
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
            with self._lock:
                self._jwks[pool_id] = keys
        return keys

    def verify(self, token: str, pool_id: str) -> dict[str, Any]:
        """The token's claims, if it is an unexpired access token this pool issued to one of its clients."""
        keys = self._keys(pool_id)
        try:
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
        # joserfc raises JoseError for what it recognises as bad, and ValueError, TypeError or
        # KeyError from the JSON and base64 it reads on the way: each is a token nobody can verify.
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise AuthError(f"the token cannot be verified: {error}") from error
        claims: dict[str, Any] = dict(decoded.claims)
        for name, kind in REQUIRED_ACCESS_CLAIMS.items():
            value = claims.get(name)
            if not isinstance(value, kind) or isinstance(value, bool) or value == "":
                raise AuthError(f"the token's {name} claim is missing or not a {kind.__name__}")
        if claims["iss"] != self.issuer(pool_id):
            raise AuthError("the token was issued by another user pool")
        if claims["exp"] <= time.time():
            raise AuthError("the token has expired")
        if claims.get("token_use") != "access":
            raise AuthError("scoped routes need an access token")
        self._client(pool_id, claims["client_id"])
        return claims


def parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise AuthError("the form is not UTF-8 text", 400) from error
    return {name: values[-1] for name, values in parse_qs(text, keep_blank_values=True).items()}
