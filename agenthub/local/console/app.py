"""The console's pages: server-rendered HTML (Jinja2), one stylesheet, no script.

Routes:
    /                       the requests in the catalog, newest first (filters: caller, pipeline, status)
    /requests/<id>          one request: its row, its hub-event timeline, its executions drawn
    /executions             every execution of the stack's state machines
    /execution?arn=...      one execution: its graph with the path taken, and its history
    /queues                 the queues, their depth and dead-letter queues; POST /queues/redrive
    /catalog                customized models and registered tools
    /lake?key=...           one object of the data lake, as text
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from agenthub.local.console.graph import execution_trace, state_graph
from agenthub.local.console.reader import ConsoleError, ExecutionDetail, HubReader
from agenthub.local.console.records import (
    TERMINAL,
    LakeUnreadable,
    history_rows,
    model_versions,
    registered_tools,
    request_summary,
    request_view,
)
from agenthub.local.console.svg import render

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
REQUESTS_PER_PAGE = 200
LAKE_TEXT_BYTES = 64 * 1024
# Pages of a request or execution still running reload themselves, without any script.
REFRESH_SECONDS = 2
# No script, no frames, nothing from elsewhere: the console is a page of the developer's own
# machine, and a page it shows (a model's reply, say) must not be able to run anything.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _clock(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class ConsoleApp:
    """The WSGI application. `reader` is the only thing that talks to the emulator."""

    def __init__(self, reader: HubReader) -> None:
        self.reader = reader
        # Every form carries this, so another site the developer visits cannot post to the console.
        self.form_token = secrets.token_urlsafe(24)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(when=_when, clock=_clock, seconds=_seconds, pretty=_pretty)
        self.templates.globals.update(
            api_url=reader.sources.api_url,
            endpoint_url=reader.sources.endpoint_url,
            stack_name=reader.sources.stack.name,
            form_token=self.form_token,
            query=lambda **params: urlencode({key: value for key, value in params.items() if value}),
        )
        self.routes = Map(
            [
                Rule("/", endpoint="requests", methods=["GET"]),
                Rule("/requests/<request_id>", endpoint="request", methods=["GET"]),
                Rule("/executions", endpoint="executions", methods=["GET"]),
                Rule("/execution", endpoint="execution", methods=["GET"]),
                Rule("/queues", endpoint="queues", methods=["GET"]),
                Rule("/queues/redrive", endpoint="redrive", methods=["POST"]),
                Rule("/catalog", endpoint="catalog", methods=["GET"]),
                Rule("/lake", endpoint="lake", methods=["GET"]),
                Rule("/static/<name>", endpoint="static", methods=["GET"]),
                Rule("/favicon.ico", endpoint="favicon", methods=["GET"]),
            ]
        )
        self.views: dict[str, Callable[..., Response]] = {
            "requests": self.requests_page,
            "request": self.request_page,
            "executions": self.executions_page,
            "execution": self.execution_page,
            "queues": self.queues_page,
            "redrive": self.redrive,
            "catalog": self.catalog_page,
            "lake": self.lake_page,
            "static": self.static,
            "favicon": lambda request: self.static(request, "favicon.svg"),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def dispatch(self, request: Request) -> Response:
        # A page on another name that resolves to 127.0.0.1 (DNS rebinding) is not the console's.
        if request.host.rsplit(":", 1)[0] not in LOOPBACK_NAMES:
            return self.page(
                "error.html",
                BadRequest.code,
                title="Not here",
                message="The console answers on loopback only.",
            )
        adapter = self.routes.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
            return self.views[str(endpoint)](request, **arguments)
        except ConsoleError as error:
            return self.page("error.html", NotFound.code, title="Not found", message=str(error))
        except (ClientError, BotoCoreError) as error:
            # The emulator answered with an error, or not at all (the local cloud is stopping).
            return self.page("error.html", 502, title="The emulator did not answer", message=str(error))
        except HTTPException as error:
            if error.code in (301, 302, 303, 307, 308):
                return error.get_response()
            return self.page(
                "error.html", error.code or 500, title=error.name, message=error.description or ""
            )

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        html = self.templates.get_template(template).render(**context)
        return Response(html, status=status, content_type="text/html; charset=utf-8")

    # -- pages ------------------------------------------------------------------------------------

    def requests_page(self, request: Request) -> Response:
        callers = self.reader.caller_names()
        rows = sorted(
            (request_summary(item) for item in self.reader.request_items()),
            key=lambda row: row.sort_key,
            reverse=True,
        )
        chosen = {name: request.args.get(name, "") for name in ("caller", "pipeline", "status")}
        shown = [
            row
            for row in rows
            if (not chosen["caller"] or row.subject == chosen["caller"])
            and (not chosen["pipeline"] or row.pipeline == chosen["pipeline"])
            and (not chosen["status"] or row.status == chosen["status"])
        ]
        return self.page(
            "requests.html",
            section="requests",
            rows=shown[:REQUESTS_PER_PAGE],
            matching=len(shown),
            total=len(rows),
            callers=callers,
            caller_choices=sorted({row.subject for row in rows}, key=lambda sub: callers.get(sub, sub)),
            pipelines=sorted({row.pipeline for row in rows}),
            statuses=["ACCEPTED", "RUNNING", *TERMINAL],
            chosen=chosen,
        )

    def request_page(self, request: Request, request_id: str) -> Response:
        item = self.reader.request_item(request_id)
        if item is None:
            raise ConsoleError(
                f"request {request_id} is not in the catalog (yet): the core writer records it once it "
                "has read request.accepted from its queue"
            )
        view = request_view(item, self.reader.load_ref)
        executions: list[tuple[ExecutionDetail, Markup]] = []
        for summary in self.reader.executions(request_id=request_id):
            detail = self.reader.execution(summary.arn)
            graph = state_graph(detail.definition)
            trace = execution_trace(graph, detail.events)
            executions.append((detail, Markup(render(graph, trace, element_id=f"graph-{len(executions)}"))))  # noqa: S704 - escaped by svg.render
        return self.page(
            "request.html",
            section="requests",
            view=view,
            caller=self.reader.caller_names().get(view.summary.subject, view.summary.subject),
            executions=executions,
            lake_objects=self.reader.lake_objects(request_id, view.summary.subject),
            lake_bucket=self.reader.lake_bucket,
            refresh=REFRESH_SECONDS if view.summary.status not in TERMINAL else None,
        )

    def executions_page(self, request: Request) -> Response:
        machines = self.reader.state_machines()
        chosen = request.args.get("state_machine", "")
        executions = [
            execution
            for execution in self.reader.executions()
            if not chosen or execution.state_machine.arn == chosen
        ]
        return self.page(
            "executions.html", section="executions", executions=executions, machines=machines, chosen=chosen
        )

    def execution_page(self, request: Request) -> Response:
        arn = request.args.get("arn", "")
        if not arn:
            raise BadRequest("name the execution: /execution?arn=<execution ARN>")
        detail = self.reader.execution(arn)
        graph = state_graph(detail.definition)
        trace = execution_trace(graph, detail.events)
        return self.page(
            "execution.html",
            section="executions",
            detail=detail,
            trace=trace,
            graph=Markup(render(graph, trace)),  # noqa: S704 - escaped by svg.render
            history=history_rows(detail.events),
            refresh=REFRESH_SECONDS if detail.summary.status == "RUNNING" else None,
        )

    def queues_page(self, request: Request) -> Response:
        return self.page(
            "queues.html",
            section="queues",
            queues=self.reader.queues(),
            # A move task's result, after a redrive (the emulator's finishes at once; AWS's may not).
            move={
                key: request.args[key]
                for key in ("status", "moved", "to_move", "from", "to")
                if key in request.args
            },
            problem=request.args.get("problem"),
        )

    def redrive(self, request: Request) -> Response:
        if not hmac.compare_digest(request.form.get("token", ""), self.form_token):
            raise BadRequest("this form is not from the console; reload the queues page and try again")
        dead_letter_arn = request.form.get("queue", "")
        try:
            task = self.reader.redrive(dead_letter_arn)
        except ConsoleError as error:
            return redirect("/queues?" + urlencode({"problem": str(error)}), code=303)
        labels = {queue.arn: queue.label for queue in self.reader.queues()}
        destination = str(task.get("DestinationArn", ""))
        answer = {
            "status": str(task.get("Status", "RUNNING")),
            "moved": str(task.get("ApproximateNumberOfMessagesMoved", 0)),
            "to_move": str(task.get("ApproximateNumberOfMessagesToMove", "")),
            "from": labels.get(dead_letter_arn, dead_letter_arn.rsplit(":", 1)[-1]),
            "to": labels.get(destination, destination.rsplit(":", 1)[-1] or "its source queue"),
        }
        # Post, then redirect, then get: a reload shows the result and does not redrive again.
        return redirect("/queues?" + urlencode(answer), code=303)

    def catalog_page(self, request: Request) -> Response:
        return self.page(
            "catalog.html",
            section="catalog",
            models=model_versions(self.reader.model_items()),
            tools=registered_tools(self.reader.tool_items()),
            callers=self.reader.caller_names(),
        )

    def lake_page(self, request: Request) -> Response:
        key = request.args.get("key", "")
        if not key:
            raise BadRequest("name the object: /lake?key=<key>")
        try:
            body, size = self.reader.read_lake(key, LAKE_TEXT_BYTES)
        except LakeUnreadable as error:
            raise ConsoleError(str(error)) from error
        text = body.decode("utf-8", errors="replace")
        if size <= LAKE_TEXT_BYTES:
            with contextlib.suppress(ValueError):  # not JSON: shown as it is
                text = _pretty(json.loads(text))
        return self.page(
            "lake.html",
            section="requests",
            key=key,
            bucket=self.reader.lake_bucket,
            text=text,
            size=size,
            cut=size > len(body),
        )

    def static(self, request: Request, name: str) -> Response:
        path = STATIC / name
        content_type = STATIC_TYPES.get(path.suffix)
        # Only the files shipped in static/, by their plain name: no path goes anywhere else.
        if content_type is None or path.parent != STATIC or not path.is_file():
            raise NotFound()
        response = Response(path.read_bytes(), content_type=content_type)
        response.headers["Cache-Control"] = "max-age=300"
        return response
