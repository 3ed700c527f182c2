"""The tables commands print: identifiers and URLs whole, so that they can be given to the next command.

A column is one of three kinds. A *whole* column (ids, URLs, names, dates, counts) is never shortened or wrapped.
A *wrap* column (titles, what changed) wraps inside its cell, a *shorten* column is cut to one line with "…".

On a terminal the table fits its width: the wrapped and shortened columns give up room, widest first, down to
:data:`MIN_TEXT` cells each; whole columns give up none (when they alone are wider than the terminal, the table is
wider and the terminal folds its lines). Anywhere else (a pipe, a file, a log), ``COLUMNS`` or 80 columns would cut
what a script reads, so every column is as wide as its widest cell: one line per row, nothing wrapped or cut.

Rich's own fitting cannot promise this: when a table does not fit it narrows every column evenly, an id column
down to nothing. So the widths are decided here and the table is printed at exactly the width they add up to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import JustifyMethod, OverflowMethod

Kind = Literal["whole", "wrap", "shorten"]
MIN_TEXT = 12  # cells a wrapped or shortened column keeps, however narrow the terminal
# A whole column is as wide as its widest cell, so "crop" never cuts it (and, unlike "ignore", keeps its justify).
_OVERFLOW: dict[Kind, OverflowMethod] = {"whole": "crop", "wrap": "fold", "shorten": "ellipsis"}
_UNLIMITED = 1_000_000  # the width content is measured at: its natural width


def add_column(table: Table, header: str, kind: Kind = "whole", justify: JustifyMethod = "left") -> None:
    """A column of ``kind`` (see the module's docstring)."""
    table.add_column(header, justify=justify, no_wrap=kind != "wrap", overflow=_OVERFLOW[kind])


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console``: fitted to a terminal, or every cell whole when the output is no terminal."""
    big = console.options.update_width(_UNLIMITED)
    natural = [max(Measurement.get(console, big, cell).maximum for cell in (column.header, *column.cells))
               for column in table.columns]
    flexible = [column.overflow != "crop" for column in table.columns]
    for column in table.columns:
        column.width = None
    overhead = Measurement.get(console, big, table).maximum - sum(natural)  # borders and padding
    widths = fit(natural, flexible, console.width - overhead) if console.is_terminal else natural
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    # A console of the table's own width: its title is centred over it, and no line is cut at the console's width.
    wide = Console(file=console.file, width=sum(widths) + overhead, force_terminal=console.is_terminal,
                   color_system=console.color_system, no_color=console.no_color,
                   highlight=False, emoji=False, legacy_windows=False)
    wide.print(table, crop=False)


def fit(natural: list[int], flexible: list[bool], room: int) -> list[int]:
    """Column widths adding up to at most ``room`` if they can: the flexible columns are narrowed, the widest
    first, down to MIN_TEXT (or their own width, if less); the others keep their ``natural`` width."""
    widths = list(natural)
    floor = [min(MIN_TEXT, width) if flex else width for width, flex in zip(natural, flexible, strict=True)]
    excess = sum(widths) - room
    while excess > 0:
        shrinkable = [i for i, width in enumerate(widths) if width > floor[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        others = [widths[i] for i in shrinkable if i != widest]
        # Down to the next widest (so the wide columns end up even), by at least one cell, never past the floor.
        step = min(excess, max(1, widths[widest] - max(others, default=floor[widest])), widths[widest] - floor[widest])
        widths[widest] -= step
        excess -= step
    return widths
