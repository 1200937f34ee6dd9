"""Fast, validating reader of the Consumidor.gov.br monthly CSV layout.

Speed comes from three choices: the file is decompressed in one call, lines and fields are split
as bytes (no csv module: the layout has no quoting), and every column value is decoded, converted
and validated once per *distinct* value through a cache (dates, names and codes repeat thousands
of times). Rows that fail any check are rejected with file, line and reason; the row
itself is never echoed (other layouts carry personal data).
"""
from __future__ import annotations

import datetime
import gzip
import os
import zlib
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional, Union

from . import layout as L
from .layout import Complaint, Outcome

PathLike = Union[str, "os.PathLike[str]"]


class FormatError(ValueError):
    """The whole file cannot be read as this layout (not gzip, wrong header, empty ...)."""


@dataclass(frozen=True)
class Rejection:
    file: str
    line: int      # line number (CRLF, LF or CR terminated), header = 1
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class _Reject(Exception):
    pass


def _show(raw: str) -> str:
    # Short structured values only (dates, codes, numbers); bounded so a broken row never leaks.
    return repr(raw if len(raw) <= 24 else raw[:24] + "...")


def _decoding(column: int, convert: Callable[[str], object]) -> Callable[[bytes], object]:
    name = L.COLUMNS[column]

    def run(raw: bytes):
        try:
            text = raw.decode(L.ENCODING)
        except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined in cp1252
            raise _Reject(f"{name}: not valid Windows-1252") from None
        return convert(text)
    return run


class _Cache(dict):
    """raw field (bytes) -> converted value; the converter runs once per distinct raw value.
    Invalid values are not stored: they raise _Reject every time (they are rare)."""
    __slots__ = ("convert",)

    def __init__(self, convert: Callable[[object], object]):
        super().__init__()
        self.convert = convert

    def __missing__(self, raw: bytes):
        value = self.convert(raw)
        self[raw] = value
        return value


def _field(column: int, convert: Callable[[str], object]) -> _Cache:
    return _Cache(_decoding(column, convert))


def _choice(column: int, allowed: Iterable[str]):
    allowed = frozenset(allowed)
    name = L.COLUMNS[column]

    def convert(raw: str) -> str:
        value = raw.strip()
        if value not in allowed:
            raise _Reject(f"{name}: unknown value {_show(raw)}")
        return value
    return convert


def _text(column: int, required: bool = True):
    name = L.COLUMNS[column]

    def convert(raw: str) -> str:
        value = raw.strip()
        if required and not value:
            raise _Reject(f"{name}: empty")
        return value
    return convert


def _yes_no(column: int):
    name = L.COLUMNS[column]

    def convert(raw: str) -> bool:
        value = raw.strip()
        if value == L.YES:
            return True
        if value == L.NO:
            return False
        raise _Reject(f"{name}: expected S or N, got {_show(raw)}")
    return convert


def _int(column: int, low: int, high: int):
    name = L.COLUMNS[column]

    def convert(raw: str) -> int:
        value = raw.strip()
        if not value.isdigit() or not value.isascii():
            raise _Reject(f"{name}: not an integer: {_show(raw)}")
        number = int(value)
        if not low <= number <= high:
            raise _Reject(f"{name}: {number} out of range {low}..{high}")
        return number
    return convert


def _date(column: int, optional: bool = False):
    name = L.COLUMNS[column]

    def convert(raw: str) -> Optional[datetime.date]:
        value = raw.strip()
        if not value:
            if optional:
                return None
            raise _Reject(f"{name}: empty")
        try:
            return datetime.datetime.strptime(value, L.DATE_FORMAT).date()
        except ValueError:
            raise _Reject(f"{name}: not a dd/mm/yyyy date: {_show(raw)}") from None
    return convert


def _outcome(key: tuple) -> Outcome:
    """Tempo Resposta, Respondida, Situação, Avaliação and Nota must agree with each other;
    checked once per distinct combination (a few dozen exist)."""
    raw_days, raw_answered, raw_status, raw_evaluation, raw_score = key
    answered = _decoding(L.C_ANSWERED, _yes_no(L.C_ANSWERED))(raw_answered)
    status = _decoding(L.C_STATUS, _choice(L.C_STATUS, L.STATUSES))(raw_status)
    evaluation = _decoding(L.C_EVALUATION, _choice(L.C_EVALUATION, L.EVALUATIONS))(raw_evaluation)
    score = None
    if raw_score.strip():
        score = _decoding(L.C_SCORE, _int(L.C_SCORE, 1, 5))(raw_score)
    days = None
    if raw_days.strip():
        # Upper bound (10 days in Brazil) is country configuration, not a format rule.
        days = _decoding(L.C_ANSWER_DAYS, _int(L.C_ANSWER_DAYS, 0, 10_000))(raw_days)
    if answered != (days is not None):
        raise _Reject("Tempo Resposta must be filled exactly when Respondida=S")
    evaluated = status == L.STATUS_EVALUATED
    if evaluated != (evaluation != L.NOT_EVALUATED):
        raise _Reject(f"Situação {status!r} contradicts Avaliação Reclamação {evaluation!r}")
    if evaluated != (score is not None):
        raise _Reject("Nota do Consumidor must be 1..5 when evaluated and empty otherwise")
    return Outcome(answered, status, evaluation, score, days)


class Reader:
    """Reads files of the layout; keeps value caches, counts and rejections across files.

    `records(path)` yields typed Complaint records; `columns(paths)` fills a Columns object, the
    fast path for indicators; `blocks(path, size)` yields every field column-wise, the fast
    path for bulk loads. All apply exactly the same checks.
    """

    def __init__(self) -> None:
        self.rejections: list[Rejection] = []
        self.rows = 0       # data rows seen (accepted + rejected)
        self.accepted = 0
        c = L
        self._caches = [
            _field(c.C_REGION, _choice(c.C_REGION, c.REGIONS)),
            _field(c.C_UF, _choice(c.C_UF, c.UFS)),
            _field(c.C_CITY, _text(c.C_CITY)),
            _field(c.C_SEX, _choice(c.C_SEX, c.SEXES)),
            _field(c.C_AGE, _text(c.C_AGE)),
            _field(c.C_OPENED_YEAR, _int(c.C_OPENED_YEAR, 1900, 9999)),
            _field(c.C_OPENED_MONTH, _int(c.C_OPENED_MONTH, 1, 12)),
            _field(c.C_OPENED_ON, _date(c.C_OPENED_ON)),
            _field(c.C_ANSWERED_ON, _date(c.C_ANSWERED_ON, optional=True)),
            _field(c.C_FINALISED_ON, _date(c.C_FINALISED_ON)),
            None,  # Tempo Resposta: part of the outcome
            _field(c.C_COMPANY, _text(c.C_COMPANY)),
            _field(c.C_SEGMENT, _text(c.C_SEGMENT)),
            _field(c.C_AREA, _text(c.C_AREA)),
            _field(c.C_SUBJECT, _text(c.C_SUBJECT)),
            _field(c.C_PROBLEM_GROUP, _text(c.C_PROBLEM_GROUP)),
            _field(c.C_PROBLEM, _text(c.C_PROBLEM)),
            _field(c.C_HOW_BOUGHT, _text(c.C_HOW_BOUGHT)),
            _field(c.C_CONTACTED_COMPANY, _yes_no(c.C_CONTACTED_COMPANY)),
        ]
        self._outcomes = _Cache(_outcome)
        self._months: dict[datetime.date, str] = {}

    # -- file level ---------------------------------------------------------------------------

    def _lines(self, path: PathLike) -> tuple[str, list]:
        """Whole file -> (name, list of byte lines, header included), header checked."""
        name = os.fspath(path)
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file suffix
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as error:
                raise FormatError(f"{name}: not a readable gzip file ({error})") from None
        if not data:
            raise FormatError(f"{name}: empty file")
        # Stay in bytes: splitting bytes is about twice as fast as str, and each distinct value
        # is decoded once by the caches below. splitlines() is faster than split(b"\r\n") and
        # also reads a file re-saved with LF endings; a stray CR or LF inside a row splits it,
        # and both halves are then rejected for their field count.
        lines = data.splitlines()
        try:
            header = lines[0].decode(L.ENCODING)
        except UnicodeDecodeError:
            raise FormatError(f"{name}: header is not valid Windows-1252") from None
        if header != L.HEADER:
            raise FormatError(f"{name}: {_header_problem(header)}")
        return name, lines

    def _reject(self, name: str, line: int, reason: str) -> None:
        self.rejections.append(Rejection(name, line, reason))

    # -- row level ----------------------------------------------------------------------------

    def _rows(self, path: PathLike) -> Iterator[tuple]:
        """Yields (Outcome, row tuple of converted values) for every valid row of one file."""
        name, lines = self._lines(path)
        (region, uf, city, sex, age, year, month, opened_c, answered_c, finalised_c, _days,
         company, segment, area, subject, group, problem, how, contacted) = self._caches
        outcomes = self._outcomes
        n_columns = L.N_COLUMNS
        self.rows += len(lines) - 1
        accepted = 0
        try:
            for lineno, line in enumerate(lines[1:], 2):
                try:  # unpacking checks the field count and is faster than indexing
                    (f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16,
                     f17, f18, f19, f20, f21, f22) = line.split(b";")
                except ValueError:
                    count = line.count(b";") + 1
                    self._reject(name, lineno, "empty line" if not line.strip() else
                                 f"{count} fields instead of {n_columns}")
                    continue
                try:
                    out = outcomes[(f10, f19, f20, f21, f22)]
                    opened = opened_c[f7]
                    answered_on = answered_c[f8]
                    finalised = finalised_c[f9]
                    row = (region[f0], uf[f1], city[f2], sex[f3], age[f4], year[f5], month[f6],
                           opened, answered_on, finalised, out.answer_days, company[f11],
                           segment[f12], area[f13], subject[f14], group[f15], problem[f16],
                           how[f17], contacted[f18], out.answered, out.status, out.evaluation,
                           out.score)
                except _Reject as error:
                    self._reject(name, lineno, str(error))
                    continue
                # Cross-column date checks: one combined test for the common valid case.
                if answered_on is None:
                    ok = not out.answered and opened <= finalised
                else:
                    ok = (out.answered and opened <= answered_on <= finalised
                          and out.answer_days <= (answered_on - opened).days)
                if not (ok and opened.month == row[6] and opened.year == row[5]):
                    self._reject(name, lineno, _date_problem(row))
                    continue
                accepted += 1
                yield out, row
        finally:  # also when the caller stops early
            self.accepted += accepted

    def records(self, path: PathLike) -> Iterator[Complaint]:
        make = Complaint._make
        for _out, row in self._rows(path):
            yield make(row)

    def blocks(self, path: PathLike, size: int) -> Iterator[list[tuple]]:
        """One file's accepted rows, `size` at a time, as columns: a tuple per Complaint field,
        in its order. For bulk loads, which convert each column with C-level map() and zip()
        instead of one record at a time, and can send a block while reading the next."""
        rows = self._rows(path)
        while True:
            block = [row for _out, row in islice(rows, size)]
            if not block:
                return
            yield list(zip(*block))

    def columns(self, paths: Iterable[PathLike], into: Optional["Columns"] = None) -> "Columns":
        cols = into if into is not None else Columns()
        company, segment, uf, month, outcome = (cols.company, cols.segment, cols.uf, cols.month,
                                                cols.outcome)
        months = self._months
        for path in paths:
            before = self.accepted
            for out, row in self._rows(path):
                company.append(row[11])
                segment.append(row[12])
                uf.append(row[1])
                finalised = row[9]
                key = months.get(finalised)
                if key is None:
                    key = months[finalised] = f"{finalised.year:04d}-{finalised.month:02d}"
                month.append(key)
                outcome.append(out)
            cols.files[os.fspath(path)] = self.accepted - before
        cols.rejections = self.rejections
        cols.rows = self.rows
        return cols

    def padding(self) -> dict[int, dict[str, str]]:
        """{column: {stripped value: value as found}} for every padded value seen so far.
        Lets the writer reproduce the original bytes (see writer.py)."""
        result: dict[int, dict[str, str]] = {}
        for column, cache in enumerate(self._caches):
            if cache is None:
                continue
            for raw, value in cache.items():
                if isinstance(value, str) and raw.decode(L.ENCODING) != value:
                    result.setdefault(column, {})[value] = raw.decode(L.ENCODING)
        return result


@dataclass
class Columns:
    """Column-oriented view of accepted rows: what the indicators need, one list per column.
    `outcome` holds shared Outcome instances, so grouping is a Counter over zip(key, outcome)."""
    company: list = field(default_factory=list)
    segment: list = field(default_factory=list)
    uf: list = field(default_factory=list)
    month: list = field(default_factory=list)       # finalisation month "YYYY-MM"
    outcome: list = field(default_factory=list)
    files: dict = field(default_factory=dict)       # path -> accepted rows
    rejections: list = field(default_factory=list)
    rows: int = 0                                   # data rows seen, accepted + rejected

    def __len__(self) -> int:
        return len(self.outcome)


def _header_problem(header) -> str:
    if not isinstance(header, str):
        return "header is not valid Windows-1252"
    found = header.split(L.DELIMITER)
    if len(found) != L.N_COLUMNS:
        return (f"header has {len(found)} columns, not the {L.N_COLUMNS} of layout "
                f"{L.LAYOUT_ID}")
    for expected, got in zip(L.COLUMNS, found):
        if expected != got:
            return f"header column {got[:40]!r} should be {expected!r} (layout {L.LAYOUT_ID})"
    return "header differs from the layout"


def _date_problem(row: tuple) -> str:
    opened, answered_on, finalised, days = row[7], row[8], row[9], row[10]
    if (answered_on is None) == row[19]:
        return "Data Resposta must be filled exactly when Respondida=S"
    if finalised < opened:
        return "Data Finalização before Data Abertura"
    if answered_on is not None:
        if not opened <= answered_on <= finalised:
            return "Data Resposta outside Data Abertura..Data Finalização"
        if days > (answered_on - opened).days:
            return "Tempo Resposta longer than Data Resposta - Data Abertura"
    return "Ano/Mês Abertura differ from Data Abertura"


def read_records(paths: Iterable[PathLike]) -> tuple[list[Complaint], list[Rejection]]:
    """All valid records of the files, in file order, and the rejections."""
    reader = Reader()
    records: list[Complaint] = []
    for path in paths:
        records.extend(reader.records(path))
    return records, reader.rejections


def iter_records(paths: Iterable[PathLike], reader: Optional[Reader] = None
                 ) -> Iterator[Complaint]:
    """Streams valid records; rejections accumulate in `reader.rejections`."""
    reader = reader or Reader()
    for path in paths:
        yield from reader.records(path)


def read_columns(paths: Iterable[PathLike]) -> Columns:
    """Fast path: accepted rows as columns, with rejections and counts."""
    return Reader().columns(paths)
