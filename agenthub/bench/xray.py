"""Where a traced function sends its segments: a UDP sink on loopback, as the X-Ray daemon listens
in Lambda, so that emitting a segment costs what it costs there (one datagram) and goes nowhere."""

from __future__ import annotations

import secrets
import socket
import threading
import time


class XRaySink:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self.datagrams = 0
        threading.Thread(target=self._drain, name="xray-sink", daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                self._socket.recv(65536)
            except OSError:
                return
            self.datagrams += 1

    def close(self) -> None:
        self._socket.close()

    def environment(self, sampled: bool = True) -> dict[str, str]:
        """What Lambda sets for a function with active tracing, pointed at this sink."""
        return {
            "AWS_XRAY_DAEMON_ADDRESS": self.address,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "_X_AMZN_TRACE_ID": trace_header(sampled),
        }


def trace_header(sampled: bool) -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};"
        f"Sampled={1 if sampled else 0}"
    )
