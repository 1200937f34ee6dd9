"""services.metrics.import_opendata stores exactly the rows of the file: its column-wise COPY
(PostgreSQL) and its INSERT (SQLite) against values computed record by record from the reader's
typed records, on a real file with added values that COPY's text format must escape."""
import gzip
import hashlib
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from concilia.opendata import read_records
from services.metrics import import_opendata
from services.metrics import models as m
from services.metrics.domain import EVALUATION_CODES, STATUS_CODES, Segments, opendata_company_id
from services.metrics.import_opendata import Importer

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "consumidor-gov-br-2014"
JULY = DATA / "2014-07.csv.gz"
PACK = load_pack("BR")
SEGMENTS = Segments.from_pack(PACK)


@pytest.fixture(scope="module")
def awkward_file(tmp_path_factory) -> Path:
    """July (5,015 rows: several blocks) with a tab, backslashes and a literal \\N in text fields
    of some rows, and one rejected row in the middle (numbering goes on after it)."""
    lines = gzip.decompress(JULY.read_bytes()).split(b"\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    assert len(rows) > 2 * import_opendata.BLOCK_ROWS

    def with_fields(line: bytes, **changes: str) -> bytes:
        fields = line.split(b";")
        for column, value in changes.items():
            fields[int(column[1:])] = value.encode("cp1252")
        return b";".join(fields)

    rows[10] = with_fields(rows[10], c11="Tab\tem meio \\ barra", c2="\\N")
    rows[1500] = with_fields(rows[1500], c11="Termina em barra\\", c13="a\\tb")
    rows[3000] = rows[3000].rsplit(b";", 1)[0] + b";9"  # Nota do Consumidor out of range
    path = tmp_path_factory.mktemp("import") / "july-awkward.csv"
    path.write_bytes(b"\r\n".join([header, *rows]) + b"\r\n")
    return path


def expected_rows(path: Path) -> list[tuple]:
    """complaints rows as the importer stored them record by record before the COPY was built
    column-wise."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    records, rejections = read_records([path])
    assert [r.line for r in rejections] == [3002]
    return [(f"od-{sha[:16]}-{number}", "import", opendata_company_id(r.company), r.company,
             SEGMENTS.code_for(r.segment), r.segment, f"BR-{r.uf}", r.region, r.city, r.sex,
             r.age_range, r.opened_on, r.answered_on, r.finalised_on, f"{r.finalised_on:%Y-%m}",
             r.answered, r.answer_days, STATUS_CODES[r.status], EVALUATION_CODES[r.evaluation],
             r.score, r.area, r.subject, r.problem_group, r.problem, r.how_bought, r.contacted_company)
            for number, r in enumerate(records, 1)]


def stored(database: Database) -> tuple[list[tuple], dict, Counter]:
    """complaints rows in file order, companies and the company aggregates' finalised counts."""
    with database.transaction() as session:
        rows = [tuple(row) for row in session.execute(sa.select(m.complaints))]
        companies = {cid: (name, segment)
                     for cid, name, segment in session.execute(sa.select(m.companies))}
        finalised = Counter({key: n for key, n in session.execute(
            sa.select(m.aggregates.c.key, m.aggregates.c.finalised).where(m.aggregates.c.dimension == "company"))})
    rows.sort(key=lambda row: int(row[0].rsplit("-", 1)[1]))
    return rows, companies, finalised


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_import_stores_the_rows_of_the_records(backend, awkward_file, make_database, tmp_path):
    url = make_database("metrics_import") if backend == "postgresql" else f"sqlite:///{tmp_path}/metrics.db"
    migrate("services.metrics", url)
    database = Database(url)
    try:
        importer = Importer(database, PACK)
        assert importer.import_file(str(awkward_file)) == ("imported", 5014)
        assert [str(r) for r in importer.reader.rejections] == [
            f"{awkward_file}:3002: Nota do Consumidor: 9 out of range 1..5"]
        rows, companies, finalised = stored(database)
        expected = expected_rows(awkward_file)
        assert rows == expected
        assert {row[3] for row in rows} >= {"Tab\tem meio \\ barra", "Termina em barra\\"}
        assert "\\N" in {row[8] for row in rows}
        # What the aggregates were fed: one company row per id (the last record's segment), counts per id.
        assert companies == {row[2]: (row[3], row[4]) for row in expected}
        assert finalised == Counter(row[2] for row in expected)
        assert importer.import_file(str(awkward_file)) == ("already imported", 0)
        assert stored(database)[0] == expected
    finally:
        database.engine.dispose()
