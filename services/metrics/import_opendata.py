"""Imports Consumidor.gov.br open-data files into the metrics database, to seed a deployment's
indicators or to audit published figures:

    python -m services.metrics.import_opendata FILE... [--database-url URL]

Files are read and checked by concilia.opendata (Windows-1252, ';', padded values, empty answer
fields of unanswered complaints); rejected rows are reported as FILE:LINE: REASON and skipped.
Each file is imported in one transaction (bulk COPY on PostgreSQL) and only once: the file's
SHA-256 is recorded, because the layout has no complaint id to detect duplicate rows.
Exit status: 0 all rows imported, 1 some rows rejected or files skipped, 2 nothing could be done.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timezone
from itertools import repeat
from typing import Callable, Iterator

import sqlalchemy as sa

from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, Writes, migrate
from concilia.opendata import Complaint, FormatError, Reader
from concilia.opendata import layout as L

from . import models as m
from .domain import EVALUATION_CODES, STATUS_CODES, Segments, add_combinations, opendata_company_id

COLUMNS = [c.name for c in m.complaints.columns]
BLOCK_ROWS = 1000  # rows read, converted and sent at a time; also the progress step
# The columns that domain.add_combinations counts, in its order.
AGGREGATE_COLUMNS = [COLUMNS.index(name) for name in (
    "finalised_month", "company_id", "segment_code", "region_code", "answered", "evaluation",
    "score", "answer_days")]
COMPANY_ID, COMPANY_NAME, SEGMENT_CODE = (COLUMNS.index(n) for n in ("company_id", "company_name", "segment_code"))
# COPY's binary format (PostgreSQL docs, "COPY", Binary Format): what frames the rows and fields.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # then flags and header extension length: 0
COPY_TRAILER = b"\xff\xff"
ROW_START = struct.Struct("!hi").pack  # (field count, length of the first field)
NULL_FIELD = struct.pack("!i", -1)
POSTGRES_EPOCH = date(2000, 1, 1).toordinal()  # dates travel as days since then


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def binary_field(column: sa.Column, encoding: str) -> Callable[[object], bytes]:
    """value -> the column's field in COPY's binary format: its length in 4 bytes (-1: NULL), then
    the bytes PostgreSQL's receive function of the column's type reads. Binary, not text: the
    server then parses no dates or numbers, about a tenth of its CPU per row (docs/benchmarks.md)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        encode = {True: b"\x01", False: b"\x00"}.__getitem__
    elif isinstance(kind, sa.Date):
        encode = lambda day: struct.pack("!i", day.toordinal() - POSTGRES_EPOCH)  # noqa: E731
    elif isinstance(kind, sa.Integer):  # SmallInteger and BigInteger are Integers too
        encode = struct.Struct("!" + ("h" if isinstance(kind, sa.SmallInteger) else
                                      "q" if isinstance(kind, sa.BigInteger) else "i")).pack
    elif isinstance(kind, sa.String):  # Text too; in the connection's client encoding
        encode = lambda text: text.encode(encoding)  # noqa: E731
    else:
        raise TypeError(f"no COPY binary form for {column.name}'s type {kind!r}")

    def field(value) -> bytes:
        if value is None:
            return NULL_FIELD
        data = encode(value)
        return struct.pack("!i", len(data)) + data
    return field


class Memo(dict):
    """value -> convert(value), computed once per distinct value: a column of thousands of rows
    holds a few hundred distinct names, dates or codes."""
    __slots__ = ("convert",)

    def __init__(self, convert):
        super().__init__()
        self.convert = convert

    def __missing__(self, value):
        result = self[value] = self.convert(value)
        return result


class Importer:
    def __init__(self, database: Database, pack, progress=None):
        self.database = database
        self.pack = pack
        self.segments = Segments.from_pack(pack)
        self.reader = Reader()
        self.progress = progress
        country = pack.code
        # complaints column -> (Complaint field it comes from, the mapping of that field's values
        # to the column's, None: as read). complaint_id and origin are not from the file.
        self._sources = {
            "company_id": ("company", Memo(opendata_company_id)), "company_name": ("company", None),
            "segment_code": ("segment", Memo(self.segments.code_for)), "segment_name": ("segment", None),
            "region_code": ("uf", Memo(lambda uf: f"{country}-{uf}")), "macro_region": ("region", None),
            "city": ("city", None), "consumer_sex": ("sex", None), "age_bracket": ("age_range", None),
            "filed_on": ("opened_on", None), "answered_on": ("answered_on", None),
            "finalised_on": ("finalised_on", None),
            "finalised_month": ("finalised_on", Memo(lambda day: f"{day.year:04d}-{day.month:02d}")),
            "answered": ("answered", None), "answer_days": ("answer_days", None),
            "status": ("status", STATUS_CODES), "evaluation": ("evaluation", EVALUATION_CODES),
            "score": ("score", None), "area": ("area", None), "subject": ("subject", None),
            "problem_group": ("problem_group", None), "problem": ("problem", None),
            "purchase_channel": ("how_bought", None), "contacted_company": ("contacted_company", None),
        }
        assert list(self._sources) == COLUMNS[2:], "every complaints column needs a source"
        self._copy_fields = None  # value -> COPY field, per column after complaint_id; set by the first COPY

    def blocks(self, path: str, sha: str) -> Iterator[list[list]]:
        """complaints columns (COLUMNS order) of one file's accepted records, BLOCK_ROWS rows at a
        time: the reader's columns, each converted once per distinct value."""
        prefix = f"od-{sha[:16]}-"
        first = 1  # complaint ids number a file's accepted records from 1
        for table in self.reader.blocks(path, BLOCK_ROWS):
            fields = dict(zip(Complaint._fields, table))
            count = len(table[0])
            columns = [[f"{prefix}{number}" for number in range(first, first + count)], ["import"] * count]
            for field, mapping in self._sources.values():
                values = fields[field]
                columns.append(values if mapping is None else list(map(mapping.__getitem__, values)))
            first += count
            yield columns

    def import_file(self, path: str) -> tuple[str, int]:
        """("imported" | "already imported", rows imported)."""
        sha = file_sha256(path)
        rejected_before = len(self.reader.rejections)
        with self.database.transaction() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Serialises concurrent imports of the same file; the second one then sees the row.
                session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:sha))"), {"sha": sha})
            if session.execute(sa.select(m.imports.c.sha256).where(m.imports.c.sha256 == sha)).first():
                return "already imported", 0
            count, combos, companies = 0, Counter(), {}
            with self._inserter(session) as insert:
                for columns in self.blocks(path, sha):
                    insert(columns)
                    # Counted while PostgreSQL parses the block just sent.
                    combos.update(zip(*[columns[i] for i in AGGREGATE_COLUMNS]))
                    companies.update(zip(columns[COMPANY_ID],
                                         zip(columns[COMPANY_NAME], columns[SEGMENT_CODE])))
                    count += len(columns[0])
                    if self.progress is not None:
                        self.progress.update(len(columns[0]))
            writes = Writes(session)
            add_combinations(writes, combos, companies)
            writes.send()
            session.execute(m.imports.insert().values(
                sha256=sha, file_name=os.path.basename(path)[:300], rows=count,
                rejected=len(self.reader.rejections) - rejected_before,
                imported_at=datetime.now(timezone.utc)))
        return "imported", count

    @contextmanager
    def _inserter(self, session) -> Iterator[Callable[[list[list]], None]]:
        """A function that inserts a block of columns. On PostgreSQL it writes the block to one
        COPY for the whole file, built column by column (a C-level pass per column, then a join
        per row); PostgreSQL parses a block while the next one is read."""
        connection = session.connection()
        if connection.dialect.name != "postgresql":
            def insert(columns):
                session.execute(m.complaints.insert(), [dict(zip(COLUMNS, row)) for row in zip(*columns)])
            yield insert
            return
        raw = connection.connection.driver_connection  # psycopg 3
        if self._copy_fields is None:  # a memo per column: True and 1 stay apart
            self._copy_fields = [Memo(binary_field(column, raw.info.encoding))
                                 for column in list(m.complaints.columns)[1:]]
        fields = self._copy_fields

        def write(columns):
            ids = list(map(str.encode, columns[0]))  # unique, so no memo; ASCII in any encoding
            parts = [map(ROW_START, repeat(len(COLUMNS)), map(len, ids)), ids]
            parts += [map(memo.__getitem__, values) for memo, values in zip(fields, columns[1:])]
            copy.write(b"".join(map(b"".join, zip(*parts))))

        with raw.cursor() as cursor:
            with cursor.copy(f"COPY complaints ({', '.join(COLUMNS)}) FROM STDIN (FORMAT binary)") as copy:
                copy.write(COPY_SIGNATURE)
                yield write
                copy.write(COPY_TRAILER)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.metrics.import_opendata", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="open-data CSV file (.csv or .gz)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""),
                        help="metrics database (default: $DATABASE_URL)")
    parser.add_argument("--country", default=os.environ.get("CONCILIA_COUNTRY", "BR"))
    parser.add_argument("--migrate", action="store_true", help="apply the metrics migrations first")
    parser.add_argument("--max-report", type=int, default=50, metavar="N",
                        help="rejected rows listed at most (0: all; default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("import_opendata: DATABASE_URL or --database-url is required", file=sys.stderr)
        return 2
    if args.migrate:
        migrate("services.metrics", args.database_url)
    from tqdm import tqdm

    started = time.perf_counter()
    progress = tqdm(unit=" rows", unit_scale=True, disable=args.no_progress, file=sys.stderr)
    importer = Importer(Database(args.database_url, pool_size=1), load_pack(args.country), progress)
    imported, problems = 0, 0
    report = []
    for path in args.files:
        try:
            outcome, count = importer.import_file(path)
        except (FormatError, OSError) as error:
            report.append(f"{path}: not imported: {error}")
            problems += 1
            continue
        imported += count
        if outcome != "imported":
            report.append(f"{path}: skipped, {outcome}")
            problems += 1
        else:
            report.append(f"{path}: {count} rows imported")
    progress.close()
    seconds = time.perf_counter() - started
    rejections = importer.reader.rejections
    for line in report:
        print(line)
    print(f"{imported} rows imported, {len(rejections)} rejected, in {seconds:.2f} s "
          f"({imported / seconds if seconds else 0:,.0f} rows/s)")
    if rejections:
        print(f"rejected rows ({L.LAYOUT_ID} layout):")
        shown = rejections if args.max_report == 0 else rejections[:args.max_report]
        for rejection in shown:
            print(f"  {rejection}")
        if len(shown) < len(rejections):
            print(f"  ... and {len(rejections) - len(shown)} more (--max-report 0 lists all)")
    if imported == 0 and problems:
        return 2
    return 1 if rejections or problems else 0


if __name__ == "__main__":
    sys.exit(main())
