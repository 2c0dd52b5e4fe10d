"""Writing to the terminal: text from a model, a tool or a caller shown as it is, and consoles
that wrap only where a terminal would.

Hub data is never markup: rich would read `[local amazon.nova-lite-v1:0]` as a style and drop it,
and `:smile:` as an emoji code. So every value reaches rich as a `Text` (which rich never parses),
and control characters are shown as escapes (`\\x1b`), never sent to the terminal to act on.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

# C0 and C1 control characters and DEL, except the newline (a model's answer has lines); a tab
# too, which a terminal would turn into a run of spaces of its choosing.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# A width no line reaches: output that goes to a file or a pipe is not wrapped.
UNWRAPPED_WIDTH = 100_000


def literal(text: str, one_line: bool = False) -> str:
    """The text with its control characters written out (`\\x1b`), so it prints as it is; with
    `one_line`, its newlines too (`\\n`), for a table's cell or a line of a list."""
    shown = _CONTROL.sub(lambda match: f"\\x{ord(match.group(0)):02x}", text)
    return shown.replace("\n", "\\n") if one_line else shown


def plain(text: Any, style: str = "", one_line: bool = False) -> Text:
    """A value as a `Text`: printed literally, whatever brackets or colons it holds."""
    return Text(literal(str(text), one_line), style=style)


def line(*parts: str | Text, one_line: bool = False) -> Text:
    """Output from literal strings and styled `Text` parts (never markup)."""
    return Text.assemble(
        *(plain(part, one_line=one_line) if isinstance(part, str) else part for part in parts)
    )


def console(stream: IO[str] | None = None) -> Console:
    """A console on `stream` (stdout by default). Lines are never broken by it (soft wrap: a
    terminal folds a long line for display, and a copied command stays whole); tables are laid
    out to a terminal's real width, and to no width at all in a file or a pipe (unless COLUMNS
    names one)."""
    file = stream or sys.stdout
    interactive = file.isatty()
    width = None if interactive or os.environ.get("COLUMNS", "").isdigit() else UNWRAPPED_WIDTH
    return Console(file=file, width=width, highlight=False, soft_wrap=True, markup=False, emoji=False)
