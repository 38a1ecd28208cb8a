"""The one way our XLSX workbooks take values (inspection report, members template): every text is a text cell.

Names of members, departments and towns come from offices' spreadsheets and forms, so a value such as
``=HYPERLINK("http://evil","x")`` or ``@SUM(1+1)`` must stay the text it is: openpyxl would store a string that
starts with ``=`` as a formula (and ``#N/A`` as an error). Text cells are written as strings (``t="inlineStr"``),
marked ``quotePrefix`` when they start like a formula (``= + - @``, tab, carriage return) so Excel keeps them text
even when the cell is edited, and stripped of the control characters XML cannot carry (openpyxl would raise).
Numbers, booleans, dates and ``None`` keep their types.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL_CHARS = 32767  # Excel's limit


def clean(text: str) -> str:
    """The text without XML-illegal control characters, within Excel's length."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_CHARS]


def cell(ws: Worksheet, value: Any) -> Cell:
    """A cell of ``ws`` holding ``value``; a ``str`` always as a text cell, never a formula."""
    c = Cell(ws)
    if isinstance(value, str):
        c.value = clean(value)
        c.data_type = "s"  # after the assignment, which makes "=…" a formula and "#N/A" an error
        if value.startswith(FORMULA_START):
            c.quotePrefix = True
    else:
        c.value = value
    return c


def append(ws: Worksheet, values: Iterable[Any]) -> None:
    """``ws.append`` with every value through ``cell``."""
    ws.append([cell(ws, v) for v in values])
