"""The local console: a small web page on loopback for looking at what the hub did.

It shows the catalog's requests and their hub-event timelines, every execution drawn from its
state machine's definition with the path it took, the queues with their dead-letter queues (and
a redrive button), and the customized models and tools registered in the catalog. It reads only
what the emulator holds, through the AWS APIs a user would call (`reader.py`), and serves plain
HTML with one stylesheet: nothing to build, no script.

    console = start_console(cloud)   # a running LocalCloud
    print(console.url)
    ...
    console.stop()
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from agenthub.local.console.app import ConsoleApp
from agenthub.local.console.reader import ConsoleSources, HubReader
from agenthub.local.emulator import bind

if TYPE_CHECKING:
    from agenthub.local.cloud import LocalCloud

# `agenthub local up` serves the API on --port and the emulator on --port + 1.
CONSOLE_PORT_OFFSET = 2


class Console:
    """The console's HTTP server on loopback, in a thread of its own."""

    def __init__(self, app: ConsoleApp, host: str, port: int) -> None:
        self.app = app
        self._server = bind(host, port, app)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-console", daemon=True)

    def start(self) -> Console:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def start_console(cloud: LocalCloud, port: int | None = None) -> Console:
    """Serves the console for a started local cloud: on `port`, else on the API's port + 2
    (3002 beside `local up`'s 3000), or on a free port when the API's was chosen freely."""
    if cloud.stack is None or cloud.emulator is None:
        raise RuntimeError("start the local cloud before its console")
    config = cloud.config
    if port is None:
        port = config.api_port + CONSOLE_PORT_OFFSET if config.api_port else 0
    sources = ConsoleSources(
        endpoint_url=cloud.emulator.url, region=config.region, stack=cloud.stack, api_url=cloud.api_url
    )
    return Console(ConsoleApp(HubReader(sources)), config.host, port).start()
