"""Metric tables for the terminal: one renderer for `evaluate`, `benchmark` and the demo."""
from __future__ import annotations

import io
from typing import Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], color: bool = False) -> str:
    """``rows`` (each ``len(header)`` cells) as a table; numeric columns right-aligned; never
    wrapped or truncated (the console is as wide as the table).

    ``color`` adds ANSI styles (bold header); without it the text is plain, for pipes and files.
    """
    table = Table(*header, box=box.SIMPLE_HEAD, header_style="bold" if color else "")
    for i, name in enumerate(header):
        if i and all(_is_number(r[i]) for r in rows):
            table.columns[i].justify = "right"
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=color, no_color=not color, width=10_000,
            highlight=False).print(table)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    return "\n".join(lines).strip("\n")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell == ""
    return True
