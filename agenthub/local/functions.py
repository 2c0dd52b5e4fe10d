"""Runs the template's functions: real handlers, one process per execution environment.

Each function gets its own pool of worker processes, started with exactly the environment the
template gives the function plus what Lambda itself sets (function name, region, credentials,
log group) and the emulator endpoint. A worker never serves another function, so one function's
environment cannot leak into another's. Like Lambda, a pool starts workers on demand up to the
function's concurrency, keeps them warm, throttles beyond it, and kills a worker whose
invocation outlives the function's timeout.

Concurrency: a function with reserved concurrency in the template is throttled at it, as in
Lambda. Without one, Lambda would scale out; locally a pool holds at most `concurrency` workers
(processes cost memory) and an invocation beyond that waits for a free one instead of failing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agenthub.local.activity import CHANGES, Changes
from agenthub.local.deploy import FunctionSpec

log = logging.getLogger("agenthub.local.functions")

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
WORKER_START_SECONDS = 60.0
# How long an invocation's result waits for the last of its log lines (they travel on another pipe).
LOG_SETTLE_SECONDS = 2.0
# An invocation keeps at most this much of its own log (the log file keeps everything).
MAX_INVOCATION_LOG = 1024 * 1024
# Put on a worker's reply queue when its output closes: the process exited (or crashed).
_EXITED: dict[str, Any] = {"exited": True}


class FunctionNotFound(LookupError):
    pass


class Throttled(RuntimeError):
    """The function is at its reserved concurrency (Lambda's TooManyRequestsException)."""


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the handler raised or timed out
    duration_ms: float = 0.0
    request_id: str = ""
    log: str = ""  # this invocation's log lines, START to REPORT, as Lambda's LogType=Tail sees them


def _trace_id() -> str:
    # Sampled=0: the X-Ray SDK in the handler records nothing, as for an unsampled request.
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str], IO[str]]:
    if process.stdin is None or process.stdout is None or process.stderr is None:
        raise RuntimeError("a worker process was started without its pipes")
    return process.stdin, process.stdout, process.stderr


class Worker:
    def __init__(self, spec: FunctionSpec, environment: dict[str, str], log: IO[str]) -> None:
        self.spec = spec
        self._log = log
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "agenthub.local.lambda_worker", spec.handler],
            cwd=spec.code_dir,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._stdin, self._stdout, self._stderr = _pipes(self.process)
        # The log lines of the invocation under way, and each finished invocation's whole log.
        self._capture: list[str] | None = None
        self._captured: queue.Queue[tuple[str, str]] = queue.Queue()
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._copy_logs, daemon=True).start()
        ready = self._next_reply(WORKER_START_SECONDS)
        if not ready or not ready.get("ready"):
            self.kill()
            raise RuntimeError(f"{spec.logical_id}: the worker process did not start (see its log)")
        self.init_ms = float(ready.get("init_ms", 0))

    def _read_replies(self) -> None:
        for line in self._stdout:
            try:
                self._replies.put(json.loads(line))
            except json.JSONDecodeError:
                self._log.write(line)
        self._replies.put(_EXITED)

    def _copy_logs(self) -> None:
        for line in self._stderr:
            self._log.write(line)
            self._log.flush()
            self._keep(line)
        self._captured.put(("", "".join(self._capture or [])))  # the process is gone: what there was

    def _keep(self, line: str) -> None:
        """Collects one invocation's lines, from Lambda's START line to its REPORT line."""
        if line.startswith("START RequestId: "):
            self._capture = []
        if self._capture is None:
            return  # output between invocations (the handler's imports, a background thread)
        if sum(map(len, self._capture)) < MAX_INVOCATION_LOG:
            self._capture.append(line)
        if line.startswith("REPORT RequestId: "):
            request_id = line.split()[2]
            self._captured.put((request_id, "".join(self._capture)))
            self._capture = None

    def _log_of(self, request_id: str) -> str:
        """The invocation's log, once its REPORT line has been read (or the process has gone)."""
        deadline = time.monotonic() + LOG_SETTLE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                finished, text = self._captured.get(timeout=left)
            except queue.Empty:
                break
            if finished in (request_id, ""):
                return text
        return "".join(self._capture or [])

    def _next_reply(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next reply, `_EXITED` once its process has gone, or None on timeout."""
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, payload: bytes, timeout: float) -> InvocationResult:
        request_id = str(uuid.uuid4())
        invocation = {
            "id": request_id,
            "request_id": request_id,
            "payload": payload.decode() or "null",
            "deadline": time.time() + timeout,
            "trace_id": _trace_id(),
        }
        started = time.perf_counter()
        try:
            self._stdin.write(json.dumps(invocation) + "\n")
            self._stdin.flush()
        except (BrokenPipeError, OSError):
            return self._crashed(request_id, started)
        reply = self._next_reply(timeout)
        elapsed = (time.perf_counter() - started) * 1000
        if reply is _EXITED:
            return self._crashed(request_id, started)
        if reply is None:
            self.kill()
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            }
            return InvocationResult(
                json.dumps(error).encode(), "Unhandled", elapsed, request_id, self._log_of(request_id)
            )
        log = self._log_of(request_id)
        if "error" in reply:
            error_payload = json.dumps(reply["error"]).encode()
            return InvocationResult(error_payload, "Unhandled", elapsed, request_id, log)
        return InvocationResult(str(reply["payload"]).encode(), None, elapsed, request_id, log)

    def _crashed(self, request_id: str, started: float) -> InvocationResult:
        self.kill()
        error = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with {self.process.returncode}",
        }
        return InvocationResult(
            json.dumps(error).encode(),
            "Unhandled",
            (time.perf_counter() - started) * 1000,
            request_id,
            self._log_of(request_id),
        )

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait(5)


class FunctionPool:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        concurrency: int,
        log_path: Path,
        changes: Changes = CHANGES,
    ) -> None:
        self.spec = spec
        self._changes = changes
        self._environment = environment
        self._reserved = spec.reserved_concurrency
        self._limit = (
            min(spec.reserved_concurrency, concurrency) if spec.reserved_concurrency else concurrency
        )
        self._idle: list[Worker] = []
        self._started: set[Worker] = set()  # every live worker, idle or busy, so stop() reaches them all
        self._stopped = False
        self._busy = 0
        self._lock = threading.Condition()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("a", encoding="utf-8")
        self.cold_starts = 0
        self.invocations = 0
        # Every invocation's duration rounded up to 1 ms, as Lambda bills it, added up (for the bench).
        self.billed_ms = 0
        self._warming = False

    def _acquire(self) -> Worker | None:
        """An idle worker, or None when the caller should start one; waits or throttles at the limit."""
        deadline = time.monotonic() + self.spec.timeout + WORKER_START_SECONDS
        with self._lock:
            while True:
                if self._stopped:
                    raise Throttled(f"{self.spec.name}: the local cloud is stopping")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        self._busy += 1
                        self._changes.bump()
                        return worker
                if self._busy < self._limit:
                    self._busy += 1
                    self._changes.bump()
                    return None
                # A slot taken by a warm-up is no invocation: Lambda would not throttle for it, so wait.
                if self._reserved is not None and not self._warming:
                    raise Throttled(f"{self.spec.name}: at its reserved concurrency of {self._reserved}")
                if not self._lock.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise Throttled(f"{self.spec.name}: no execution environment became free")

    def _start_worker(self, overrides: dict[str, str] | None = None) -> Worker:
        worker = Worker(self.spec, {**self._environment, **(overrides or {})}, self._log)
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._started.add(worker)
        if stopped:
            worker.kill()
            raise Throttled(f"{self.spec.name}: the local cloud is stopping")
        return worker

    def _release(self, worker: Worker | None, warmed: bool = False) -> None:
        with self._lock:
            self._busy -= 1
            self._warming = self._warming and not warmed
            if worker is not None and worker.alive and not self._stopped:
                self._idle.append(worker)
            elif worker is not None:
                self._started.discard(worker)
            self._lock.notify_all()
        self._changes.bump()

    def invoke(self, payload: bytes) -> InvocationResult:
        worker = self._acquire()
        with self._lock:
            self.invocations += 1
        try:
            if worker is None:
                worker = self._start_worker()
                self.cold_starts += 1
            result = worker.invoke(payload, float(self.spec.timeout))
        except BaseException:
            self._release(None)
            raise
        with self._lock:
            self.billed_ms += math.ceil(result.duration_ms)
        self._release(worker)
        return result

    def invoke_apart(self, payload: bytes, overrides: dict[str, str]) -> InvocationResult:
        """One invocation in an execution environment of its own, started with some of the template's
        variables overridden (`agenthub local invoke --env-vars`): the warm environments keep theirs."""
        unknown = sorted(set(overrides) - set(self.spec.environment))
        if unknown:
            raise ValueError(f"{self.spec.logical_id} has no variables {', '.join(unknown)} in the template")
        worker = self._start_worker(overrides)
        with self._lock:
            self.invocations += 1
            self.cold_starts += 1
        try:
            return worker.invoke(payload, float(self.spec.timeout))
        finally:
            worker.kill()
            with self._lock:
                self._started.discard(worker)

    @property
    def running(self) -> int:
        """Execution environments running an invocation now (a warm-up is not one)."""
        with self._lock:
            return self._busy - (1 if self._warming else 0)

    @property
    def warming(self) -> bool:
        with self._lock:
            return self._warming

    def kill_busy_worker(self) -> bool:
        """Kills a worker in the middle of an invocation, the way an execution environment dies of a
        crash or running out of memory: its invocation ends as Runtime.ExitError. False when no
        worker was busy. For fault injection (the soak)."""
        with self._lock:
            busy = [worker for worker in self._started if worker not in self._idle and worker.alive]
        if not busy:
            return False
        busy[0].kill()
        return True

    def warm(self) -> None:
        """Starts one execution environment ahead of the first invocation."""
        with self._lock:
            if self._idle or self._busy:
                return
            self._busy += 1
            self._warming = True
        self._changes.bump()
        worker = None
        try:
            worker = self._start_worker()
        except Throttled:
            pass  # stopping: nothing to warm
        finally:
            self._release(worker, warmed=True)

    def stop(self) -> None:
        """Kills every worker, busy ones too: an invocation in flight ends as a runtime exit."""
        with self._lock:
            self._stopped = True
            workers, self._idle = list(self._started), []
            self._started.clear()
            self._lock.notify_all()
        for worker in workers:
            worker.kill()
        self._log.close()


def function_environment(spec: FunctionSpec, region: str, endpoint_url: str) -> dict[str, str]:
    """Exactly what the function sees: the template's variables, Lambda's own, and the endpoint."""
    logical = spec.logical_id
    return {
        # What a Lambda execution environment sets for every Python function.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # /var/task first, then each layer's /opt/python, as Lambda's Python runtime orders them.
        "PYTHONPATH": os.pathsep.join(str(path) for path in (spec.code_dir, *spec.layer_dirs)),
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{logical}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        **LOCAL_CREDENTIALS,
        # The local cloud's addition: every AWS call goes to the emulator.
        "AWS_ENDPOINT_URL": endpoint_url,
        "AGENTHUB_FUNCTION_ARN": spec.arn,
        # The template's own variables last: they win, as they do in Lambda.
        **spec.environment,
    }


# Asked before every invocation: (function name, payload) -> an injected fault, if one applies.
FaultFinder = Callable[[str, bytes], "InjectedFault | None"]


@dataclass(frozen=True)
class InjectedFault:
    """What a fault rule makes an invocation do instead of running the handler."""

    error: str
    message: str = ""
    after_effect: bool = False  # run the handler first, then answer with the error (a lost answer)


class FunctionHost:
    """Invokes the stack's functions by name or ARN, from the Lambda API and the SQS pollers alike."""

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        region: str,
        endpoint_url: str,
        log_dir: Path,
        concurrency: int = 2,
        faults: FaultFinder | None = None,
        changes: Changes = CHANGES,
    ) -> None:
        self._faults = faults
        self._changes = changes
        # Invocations asked for and not yet answered, by function name (agenthub.local.activity).
        self._calls: dict[str, int] = {}
        self._calls_lock = threading.Lock()
        self._region = region
        self._endpoint_url = endpoint_url
        self._log_dir = log_dir
        self._concurrency = concurrency
        self._pools: dict[str, FunctionPool] = {}
        self._async: list[threading.Thread] = []
        self.add(functions.values())

    def add(self, specs: Iterable[FunctionSpec]) -> None:
        """Hosts more functions (a stack deployed while the local cloud runs)."""
        for spec in specs:
            pool = FunctionPool(
                spec,
                function_environment(spec, self._region, self._endpoint_url),
                self._concurrency,
                self._log_dir / f"{spec.logical_id}.log",
                self._changes,
            )
            self._pools[spec.name] = pool
            self._pools[spec.arn] = pool

    def remove(self, specs: Iterable[FunctionSpec]) -> None:
        """Stops hosting these functions (their stack was deleted)."""
        for spec in specs:
            pool = self._pools.pop(spec.name, None)
            self._pools.pop(spec.arn, None)
            if pool is not None:
                pool.stop()

    def pool(self, name_or_arn: str) -> FunctionPool:
        name = (
            name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
            if ":function:" in name_or_arn
            else name_or_arn
        )
        pool = self._pools.get(name) or self._pools.get(name_or_arn)
        if pool is None:
            raise FunctionNotFound(name_or_arn)
        return pool

    def invoke(
        self, name_or_arn: str, payload: bytes, overrides: dict[str, str] | None = None
    ) -> InvocationResult:
        """Runs the function; with `overrides` (template variables), in an environment of its own."""
        pool = self.pool(name_or_arn)
        self._begin(pool.spec.name)
        try:
            return self._run(pool, payload, overrides)
        finally:
            self._end(pool.spec.name)

    def _run(self, pool: FunctionPool, payload: bytes, overrides: dict[str, str] | None) -> InvocationResult:
        fault = self._faults(pool.spec.name, payload) if self._faults else None
        if fault is None:
            return pool.invoke_apart(payload, overrides) if overrides else pool.invoke(payload)
        if fault.after_effect:
            pool.invoke(payload)  # it did its work; the caller never hears so, and retries
        # What Lambda answers when the runtime crashes or times out, or the function is throttled.
        if fault.error == "TooManyRequestsException":
            raise Throttled(fault.message or f"{pool.spec.name}: throttled (injected by the local cloud)")
        error = {
            "errorType": fault.error,
            "errorMessage": fault.message or f"{fault.error} (injected by the local cloud)",
        }
        return InvocationResult(json.dumps(error).encode(), "Unhandled", request_id=str(uuid.uuid4()))

    def invoke_async(self, name_or_arn: str, payload: bytes) -> None:
        """Lambda's Event invocation: answered at once, run on a thread of its own (pending until it ends)."""
        pool = self.pool(name_or_arn)
        self._begin(pool.spec.name)

        def run() -> None:
            try:
                self._run(pool, payload, None)
            except Exception:  # nobody waits for an Event invocation's answer: it is logged
                log.exception("%s: an asynchronous invocation failed", pool.spec.name)
            finally:
                self._end(pool.spec.name)

        thread = threading.Thread(target=run, daemon=True)
        try:
            thread.start()
        except BaseException:
            self._end(pool.spec.name)
            raise
        self._async = [other for other in self._async if other.is_alive()] + [thread]

    def _begin(self, name: str) -> None:
        with self._calls_lock:
            self._calls[name] = self._calls.get(name, 0) + 1
        self._changes.bump()

    def _end(self, name: str) -> None:
        with self._calls_lock:
            self._calls[name] -= 1
            if not self._calls[name]:
                del self._calls[name]
        self._changes.bump()

    def in_flight(self) -> dict[str, int]:
        """Invocations asked for and not yet answered, by function name: waiting for an environment,
        held by an injected delay, running, or asynchronous and not yet ended."""
        with self._calls_lock:
            return dict(self._calls)

    def warming(self) -> list[str]:
        """The functions starting an execution environment ahead of their first invocation."""
        return sorted({pool.spec.name for pool in self._pools.values() if pool.warming})

    def warm_all(self) -> None:
        for pool in {id(pool): pool for pool in self._pools.values()}.values():
            pool.warm()

    def stop(self) -> None:
        for pool in {id(pool): pool for pool in self._pools.values()}.values():
            pool.stop()
