"""A small client for the hub's public API: submit a request, read it, wait for it to finish."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 30) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self._timeout = timeout
        self._session = requests.Session()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    @staticmethod
    def _reply(response: requests.Response) -> Reply:
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text}
        return Reply(
            response.status_code, body if isinstance(body, dict) else {"value": body}, dict(response.headers)
        )

    def submit(self, request: dict[str, Any], idempotency_key: str | None = None) -> Reply:
        headers = self._headers(
            {"Content-Type": "application/json", "Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        )
        return self._reply(
            self._session.post(
                f"{self.api_url}/v1/requests", json=request, headers=headers, timeout=self._timeout
            )
        )

    def get(self, request_id: str) -> Reply:
        return self._reply(
            self._session.get(
                f"{self.api_url}/v1/requests/{request_id}", headers=self._headers(), timeout=self._timeout
            )
        )

    def fetch(self, path: str) -> Reply:
        """GET any route of the API (`/v1/tools`, say)."""
        return self._reply(
            self._session.get(f"{self.api_url}{path}", headers=self._headers(), timeout=self._timeout)
        )

    def post(self, path: str, body: Any = None) -> Reply:
        headers = self._headers({"Content-Type": "application/json"})
        return self._reply(
            self._session.post(f"{self.api_url}{path}", json=body, headers=headers, timeout=self._timeout)
        )

    def wait(self, request_id: str, timeout: float = 60, until: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
        """The request's view once its status is one of `until` (terminal by default)."""
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            reply = self.get(request_id)
            if reply.status == 200:
                view = reply.body
                if view["status"] in until:
                    return view
            time.sleep(0.25)
        raise TimeoutError(
            f"request {request_id} is still {view.get('status', 'unknown')} after {timeout:.0f}s"
        )

    def result(self, view: dict[str, Any]) -> Any:
        """A finished request's result: inline in its view when small, else read from the lake
        through the view's presigned `result_url` (no credentials needed)."""
        if view.get("result") is not None or not view.get("result_url"):
            return view.get("result")
        response = self._session.get(view["result_url"], timeout=self._timeout)
        response.raise_for_status()
        return response.json()
