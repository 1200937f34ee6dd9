"""Exports Complaint records in the exact Consumidor.gov.br layout (cp1252, `;`, CRLF).

The header is byte-identical to the published files. Values are written stripped, except Região,
a CHAR(2) column ("N ", "S "). The published files also carry trailing spaces on some catalogue
names ("Vivo - Telefônica ", "Demais Serviços "); those cannot be derived from the value, so pass
`padding` (as returned by Reader.padding()) to reproduce them and get the original bytes back.
"""
from __future__ import annotations

import datetime
import gzip
import os
from typing import IO, Iterable, Optional, Union

from . import layout as L
from .layout import Complaint

Padding = dict  # {column index: {stripped value: value as published}}


def _date(d: Optional[datetime.date]) -> str:
    return "" if d is None else f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def format_record(r: Complaint, padding: Optional[Padding] = None) -> str:
    """One line of the layout, without the line terminator."""
    values = [
        r.region.ljust(L.FIXED_WIDTH[L.C_REGION]), r.uf, r.city, r.sex, r.age_range,
        str(r.opened_year), str(r.opened_month), _date(r.opened_on), _date(r.answered_on),
        _date(r.finalised_on), "" if r.answer_days is None else str(r.answer_days),
        r.company, r.segment, r.area, r.subject, r.problem_group, r.problem, r.how_bought,
        L.YES if r.contacted_company else L.NO, L.YES if r.answered else L.NO,
        r.status, r.evaluation, "" if r.score is None else str(r.score),
    ]
    if padding:
        for column, table in padding.items():
            values[column] = table.get(values[column], values[column])
    # The layout has no quoting: a delimiter or newline inside a value would shift columns.
    for column, value in enumerate(values):
        if ";" in value or "\r" in value or "\n" in value:
            raise ValueError(f"{L.COLUMNS[column]}: value contains ';' or a line break, "
                             f"which this layout cannot represent")
    return L.DELIMITER.join(values)


def dumps(records: Iterable[Complaint], padding: Optional[Padding] = None) -> bytes:
    """Whole file (header + rows) as cp1252 bytes with CRLF line endings."""
    lines = [L.HEADER]
    lines.extend(format_record(r, padding) for r in records)
    text = L.NEWLINE.join(lines) + L.NEWLINE
    try:
        return text.encode(L.ENCODING)
    except UnicodeEncodeError as error:
        raise ValueError(f"character {text[error.start]!r} cannot be written in Windows-1252"
                         ) from None


def write_records(target: Union[str, "os.PathLike[str]", IO[bytes]],
                  records: Iterable[Complaint], padding: Optional[Padding] = None,
                  compress: Optional[bool] = None) -> int:
    """Writes a file of the layout; gzip when `compress` is true or the name ends in .gz
    (mtime 0, like `gzip -n`, so output is reproducible). Returns the number of bytes written."""
    data = dumps(records, padding)
    if hasattr(target, "write"):
        if compress:
            data = gzip.compress(data, compresslevel=9, mtime=0)
        target.write(data)
        return len(data)
    if compress is None:
        compress = str(target).endswith(".gz")
    if compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    with open(target, "wb") as handle:
        handle.write(data)
    return len(data)
