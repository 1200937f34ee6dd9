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
import operator
import os
import sys
import time
from datetime import datetime, timezone

import sqlalchemy as sa

from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from concilia.opendata import FormatError, Reader
from concilia.opendata import layout as L

from . import models as m
from collections import Counter

from .domain import EVALUATION_CODES, STATUS_CODES, Segments, add_combinations, opendata_company_id

COLUMNS = [c.name for c in m.complaints.columns]
PROGRESS_EVERY = 5000
# The fields of a row that domain.add_combinations counts, in its order.
AGGREGATE_KEY = operator.itemgetter(*[COLUMNS.index(name) for name in (
    "finalised_month", "company_id", "segment_code", "region_code", "answered", "evaluation",
    "score", "answer_days")])
COMPANY_ID, COMPANY_NAME, SEGMENT_CODE = (COLUMNS.index(n) for n in ("company_id", "company_name", "segment_code"))


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Importer:
    def __init__(self, database: Database, pack, progress=None):
        self.database = database
        self.pack = pack
        self.segments = Segments.from_pack(pack)
        self.reader = Reader()
        self.progress = progress
        self._company_ids: dict[str, str] = {}
        self._segment_codes: dict[str, str] = {}

    def rows(self, path: str, sha: str):
        """complaints rows (tuples in COLUMNS order) of one file's accepted records."""
        company_ids, segment_codes, country = self._company_ids, self._segment_codes, self.pack.code
        prefix = f"od-{sha[:16]}-"
        for number, r in enumerate(self.reader.records(path), 1):
            company_id = company_ids.get(r.company)
            if company_id is None:
                company_id = company_ids[r.company] = opendata_company_id(r.company)
            segment_code = segment_codes.get(r.segment)
            if segment_code is None:
                segment_code = segment_codes[r.segment] = self.segments.code_for(r.segment)
            yield (prefix + str(number), "import", company_id, r.company, segment_code, r.segment,
                   f"{country}-{r.uf}", r.region, r.city, r.sex, r.age_range, r.opened_on,
                   r.answered_on, r.finalised_on, f"{r.finalised_on.year:04d}-{r.finalised_on.month:02d}",
                   r.answered, r.answer_days, STATUS_CODES[r.status], EVALUATION_CODES[r.evaluation],
                   r.score, r.area, r.subject, r.problem_group, r.problem, r.how_bought,
                   r.contacted_company)
            if self.progress is not None and number % PROGRESS_EVERY == 0:
                self.progress.update(PROGRESS_EVERY)

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
            rows = self._bulk_insert(session, self.rows(path, sha))
            if self.progress is not None:
                self.progress.update(len(rows) % PROGRESS_EVERY)
            combos = Counter(map(AGGREGATE_KEY, rows))
            add_combinations(session, combos, {r[COMPANY_ID]: (r[COMPANY_NAME], r[SEGMENT_CODE]) for r in rows})
            session.execute(m.imports.insert().values(
                sha256=sha, file_name=os.path.basename(path)[:300], rows=len(rows),
                rejected=len(self.reader.rejections) - rejected_before,
                imported_at=datetime.now(timezone.utc)))
        return "imported", len(rows)

    def _bulk_insert(self, session, rows) -> list[tuple]:
        """Inserts the rows as they are read (PostgreSQL parses the COPY stream while the file is
        still being read) and returns them."""
        connection = session.connection()
        kept = []
        if connection.dialect.name == "postgresql":
            raw = connection.connection.driver_connection  # psycopg 3: COPY is the fast path
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY complaints ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    write, keep = copy.write_row, kept.append
                    for row in rows:
                        write(row)
                        keep(row)
        else:
            kept = list(rows)
            if kept:
                session.execute(m.complaints.insert(), [dict(zip(COLUMNS, row)) for row in kept])
        return kept


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
