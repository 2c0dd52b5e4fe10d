"""State that survives a restart: what `agenthub local up` keeps in its state folder between runs.

`local up` saves the emulator's data when it stops and puts it back when it starts, so the users,
tables, lake objects, executions, catalog (requests, models, tools) and queued messages of one
day are there the next; `local up --fresh` starts empty and `agenthub local reset` wipes it.

How, and why this way. moto has no disk persistence of its own; its state is Python objects.
Two ways were open:

- replaying: read everything out through the AWS APIs (items, objects, messages, users) and
  write it back into a fresh deployment. Portable, but what the APIs cannot set is lost: a user
  pool's and app clients' ids and secrets (every token names them), users' `sub` (the catalog and
  the lake key on it), messages' receive counts, executions and their histories.
- pickling the backends of the services that hold data (`agenthub.local.snapshot`): exact, ids
  and secrets included, a few milliseconds for a developer's state, and what pickle cannot take
  (locks, RSA keys, running interpreters) is a short, explicit list.

This takes the second, and keeps it robust three ways:

1. *A consistent cut.* Saving holds the emulator still (`Gate`): requests under way finish, new
   ones wait, then the state is pickled, then the stopping cloud answers 503. Nothing after that
   instant counts, and nothing before it is half-applied: an accepted request's `request.accepted`
   is in its queues, a message being delivered is still in its queue (and is delivered again
   after the start: at least once), and an execution that was running is started again from its
   beginning under the same name (the pipelines are idempotent: hub event ids are derived, job
   starts carry client tokens).
2. *The template is deployed at every start*, over the restored state, so an edited template
   applies: the deployer's create calls adopt what already exists (`agenthub.local.adopt`), so
   nothing is duplicated and ids stay the same. Services that hold no data (IAM, Lambda, SNS, KMS,
   API Gateway, logs) are not kept: they are made afresh from the template.
3. *A saved state is only read by the code that wrote it*: the file names its format and moto's
   version, and a start refuses another with a message saying how to start empty, instead of
   guessing. It is written to a temporary file and renamed, so a crash while saving leaves the
   previous state whole.

Tokens issued before a restart stay valid until they expire: the pool and its clients keep their
ids (and the pool its keys), so a token's issuer and client are the same after the start.

Layout: `<state folder>/saved/state.pickle` and `saved/about.json` (when, which versions, sizes).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agenthub.local import snapshot
from agenthub.local.snapshot import Interrupted, Snapshot

if TYPE_CHECKING:
    from agenthub.local.emulator import Emulator

log = logging.getLogger("agenthub.local.persistence")
FORMAT = 1
SAVED = "saved"
STATE_FILE = "state.pickle"
ABOUT_FILE = "about.json"
# How long saving waits for the emulator's requests under way before it pickles regardless.
HOLD_SECONDS = 5.0
# What `agenthub local reset` removes from a state folder: only what the local cloud writes there
# (the local users' password secret goes with the users); `local up --fresh` keeps the logs.
RESET_ENTRIES = (SAVED, "local-secret", "logs")


class StateUnreadable(RuntimeError):
    """The saved state cannot be read by this version; the message says how to start empty."""


@dataclass(frozen=True)
class Restored:
    """What a start found in the state folder."""

    snapshot: Snapshot
    about: dict[str, Any]
    seconds: float  # reading and unpickling

    def summary(self) -> str:
        counts = self.snapshot.counts()
        return (
            f"{counts.get('s3', 0)} lake object(s), {counts.get('dynamodb', 0)} table item(s), "
            f"{counts.get('sqs', 0)} queued message(s), {counts.get('cognito-idp', 0)} user(s), "
            f"{counts.get('stepfunctions', 0)} execution(s), saved {self.about.get('saved_at', '?')}"
        )


def _versions() -> dict[str, Any]:
    return {"format": FORMAT, "moto": version("moto"), "python": sys.version.split()[0]}


class LocalState:
    """The saved state of the local cloud that runs from `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.folder = state_dir / SAVED

    @property
    def path(self) -> Path:
        return self.folder / STATE_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def about(self) -> dict[str, Any]:
        about_path = self.folder / ABOUT_FILE
        if not about_path.exists():
            return {}
        about: dict[str, Any] = json.loads(about_path.read_text())
        return about

    def load(self) -> Restored | None:
        """The saved state, or None when there is none."""
        if not self.exists():
            return None
        snapshot.kept_backends()  # moto's models, imported first so that the time is the state's own
        started = time.perf_counter()
        about = self.about()
        wanted = _versions()
        saved = {key: about.get(key) for key in ("format", "moto")}
        if saved != {key: wanted[key] for key in saved}:
            raise StateUnreadable(
                f"the saved state in {self.folder} was written by another version (format "
                f"{saved['format']}, moto {saved['moto']}; this is format {wanted['format']}, moto "
                f"{wanted['moto']}): start with `agenthub local up --fresh` to discard it and start "
                "empty, or wipe it with `agenthub local reset`"
            )
        try:
            restored = snapshot.load(self.path.read_bytes())
        except Exception as error:  # a damaged file: say so, never start half-restored
            raise StateUnreadable(
                f"the saved state {self.path} cannot be read ({type(error).__name__}: {error}): start with "
                "`agenthub local up --fresh` to discard it, or wipe it with `agenthub local reset`"
            ) from error
        return Restored(restored, about, time.perf_counter() - started)

    def save(self, emulator: Emulator) -> dict[str, Any]:
        """Saves the emulator's data, holding it still meanwhile; from then on it answers 503.
        Returns what was written to about.json (sizes and times included)."""
        started = time.perf_counter()
        quiet = emulator.gate.hold(HOLD_SECONDS)
        try:
            held = time.perf_counter()
            data = snapshot.capture(emulator.standins)
        finally:
            emulator.gate.open(refuse=True)
        pickled = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)
        about = {
            **_versions(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "bytes": len(data),
            "quiet": quiet,  # False: some request was still under way after HOLD_SECONDS
            "hold_seconds": round(held - started, 3),
            "pickle_seconds": round(pickled - held, 3),
            "write_seconds": round(time.perf_counter() - pickled, 3),
        }
        (self.folder / ABOUT_FILE).write_text(json.dumps(about, indent=2) + "\n")
        if not quiet:
            log.warning("saved the local cloud's state while a request was still under way")
        return about

    def wipe(self, logs: bool = True) -> list[Path]:
        """Removes the saved state and the local users' password secret, and the logs unless told
        not to (`local up --fresh`). Returns what was removed."""
        removed = []
        for name in RESET_ENTRIES if logs else [name for name in RESET_ENTRIES if name != "logs"]:
            entry = self.state_dir / name
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.exists():
                entry.unlink()
            else:
                continue
            removed.append(entry)
        return removed


def restore(restored: Restored, emulator: Emulator) -> list[Interrupted]:
    """Puts the saved state into the emulator, before the template is deployed over it."""
    return snapshot.restore(restored.snapshot, emulator.standins)


def start_again(interrupted: list[Interrupted], sfn: Any) -> list[str]:
    """Starts the executions that were running when the state was saved again, from their
    beginning under their own names; returns their ARNs."""
    started = []
    for execution in interrupted:
        try:
            answer = sfn.start_execution(
                stateMachineArn=execution.state_machine_arn, name=execution.name, input=execution.input
            )
        except Exception as error:  # its state machine left the template: say so, start the rest
            log.warning("could not start %s again: %s", execution.name, error)
            continue
        started.append(str(answer["executionArn"]))
    return started
