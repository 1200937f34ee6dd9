"""concilia.opendata against the real Consumidor.gov.br open-data files (May 2014 - Jan 2015).

Expected figures come from /work/shared/docs/domain.md and /work/shared/data/SOURCES.md (computed
and checked independently of this code), or are recomputed here with the csv module.
"""
import csv
import gzip
import hashlib
import io
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
try:
    import concilia.opendata  # noqa: F401  (installed editable in .venv)
except ImportError:  # a plain interpreter with the same packages
    sys.path.insert(0, str(ROOT / "lib"))

from concilia.opendata import (Accumulator, Complaint, FormatError, Reader, aggregate,  # noqa: E402
                               aggregate_records, dumps, get_formula, read_columns, read_records,
                               write_records)
from concilia.opendata import layout  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
BR = DATA / "consumidor-gov-br-2014"
FILES = sorted(BR.glob("*.csv.gz"))
pytestmark = pytest.mark.skipif(len(FILES) != 9,
                                reason=f"real open-data files not found in {BR}")

# SOURCES.md "Rows per file" (one file per month of Data Finalização).
MONTH_ROWS = {"2014-05": 70, "2014-06": 585, "2014-07": 5015, "2014-08": 5404, "2014-09": 5517,
              "2014-10": 5901, "2014-11": 6545, "2014-12": 8116, "2015-01": 8619}
# SOURCES.md "sha256 of the original (un-gzipped) CSVs".
SHA256 = {
    "2014-05": "27b85ccdfbd863c1e5606d363cf322f50f15cb1b2440cb0ddcb6756a5e3a60f5",
    "2014-06": "d204d2e7ac5ea829917dea4053e48400371c566365ca1c6dbc939b4f48751d9f",
    "2014-07": "7bfec3cd488de6239af4f84da0d727086fca1d7762e82b26f9f0e11261bed8d2",
    "2014-08": "ae1776a49fe52d73a5dbbf2d4f93072ffdb4200eb0d9b26530cbd163d9a36241",
    "2014-09": "8af59138c71ff536bc113ea155ea4797d189da99b3898ada08f60fbaf9121e47",
    "2014-10": "1796c6d766005c1a408e89ea3d9c1b3b51d2b94abb551141aa0059ff2f00ccd9",
    "2014-11": "11d5e7f95b6e73d567a4f72f118e0eb5836be256d87259671cae46b4c002739b",
    "2014-12": "1170ce95341d5adbd7bb1d78d6ae848605cc7a2d2d486232c9445ea5351a411e",
    "2015-01": "6444dc932a7d3fd456e540cff1668b855f97291a8d06b2ff32dcbc89d02a3ccb",
}

# First sample row of SOURCES.md, used as the valid base of hand-made malformed rows.
SAMPLE = ("NE;MA;São Luís;M;entre 21 a 30 anos;2014;5;16/05/2014;16/05/2014;19/05/2014;0;Tim;"
          "Operadoras de Telecomunicações (Telefonia, Internet, TV por assinatura);"
          "Telecomunicações;Telefonia Móvel Pré-paga;Vício de Qualidade;Funcionamento "
          "inadequado do serviço (má qualidade do sinal, instabilidade, queda);Internet;S;S;"
          "Finalizada avaliada;Resolvida;1")


@pytest.fixture(scope="module")
def columns():
    return read_columns(FILES)


@pytest.fixture(scope="module")
def figures(columns):
    return aggregate(columns).indicators("br-2015")


@pytest.fixture(scope="module")
def records():
    recs, rejections = read_records(FILES)
    assert rejections == []
    return recs


# -- published figures -------------------------------------------------------------------------

def test_national_figures_match_published_recomputation(columns, figures):
    assert columns.rows == 45_772 and len(columns) == 45_772 and columns.rejections == []
    assert figures["complaints"] == 45_772
    assert round(figures["solution_index"], 4) == 0.7316
    assert round(figures["strict_solution_index"], 4) == 0.4302
    assert round(figures["answered_share"], 4) == 0.9952
    assert round(figures["avg_answer_days"], 2) == 6.59
    assert round(figures["satisfaction"], 2) == 3.03
    # SOURCES.md counts behind them
    assert (figures["resolved"], figures["not_resolved"], figures["not_evaluated"]) == (
        19_690, 12_284, 13_798)
    assert figures["answered"] == 45_551


def test_rows_per_finalisation_month(figures, columns):
    assert {m: g["complaints"] for m, g in figures["by_month"].items()} == MONTH_ROWS
    per_file = {Path(p).name[:7]: n for p, n in columns.files.items()}
    assert per_file == MONTH_ROWS


def test_monthly_official_index_series(figures):
    # SOURCES.md: "Monthly official-formula index: 77.1, 69.9, 58.8, ... 78.4 %"
    series = [round(g["solution_index"] * 100, 1) for g in figures["by_month"].values()]
    assert series == [77.1, 69.9, 58.8, 70.4, 69.9, 74.2, 77.7, 76.3, 78.4]


def test_unweighted_company_means(figures):
    # SOURCES.md: over the 179 companies, official index / days / nota / responded
    # = 67.17 % / 5.87 d / 2.69 / 94.9 % (companies without a value for a figure left out).
    companies = figures["by_company"]
    assert len(companies) == 179

    def mean(key):
        return statistics.mean(g[key] for g in companies.values() if g[key] is not None)
    assert round(mean("solution_index") * 100, 2) == 67.17
    assert round(mean("avg_answer_days"), 2) == 5.87
    assert round(mean("satisfaction"), 2) == 2.69
    assert round(mean("answered_share") * 100, 1) == 94.9


def test_evaluated_only_formula_version(columns):
    # SOURCES.md: Resolvida / (Resolvida + Não Resolvida) = 61.58 %
    value = aggregate(columns).indicators("br-2015-evaluated")["solution_index"]
    assert round(value * 100, 2) == 61.58
    with pytest.raises(KeyError, match="br-2015"):
        get_formula("no-such-version")


def test_unanswered_rows(records):
    unanswered = [r for r in records if not r.answered]
    assert len(unanswered) == 221
    assert all(r.answered_on is None and r.answer_days is None for r in unanswered)
    # they can still be evaluated (SOURCES.md quirk)
    assert {r.evaluation for r in unanswered} == {"Resolvida", "Não Resolvida", "Não Avaliada"}
    assert sum(r.score is None for r in records) == 13_798


# -- independent recomputation with the csv module ---------------------------------------------

def _csv_rows():
    for path in FILES:
        text = gzip.decompress(path.read_bytes()).decode("cp1252")
        yield from csv.DictReader(io.StringIO(text, newline=""), delimiter=";")


def test_every_company_against_a_csv_module_computation(figures):
    sums = defaultdict(lambda: defaultdict(float))
    for row in _csv_rows():
        s = sums[row["Nome Fantasia"].strip()]
        s["n"] += 1
        s["resolved"] += row["Avaliação Reclamação"] == "Resolvida"
        s["silent"] += row["Situação"] == "Finalizada não avaliada"
        if row["Respondida"] == "S":
            s["answered"] += 1
            s["days"] += int(row["Tempo Resposta"])
        if row["Nota do Consumidor"]:
            s["scored"] += 1
            s["score"] += int(row["Nota do Consumidor"])
    ours = figures["by_company"]
    assert set(ours) == set(sums)
    assert "Vivo - Telefônica" in ours  # published with a trailing space
    for name, s in sums.items():
        g = ours[name]
        assert g["complaints"] == s["n"], name
        assert g["solution_index"] == pytest.approx((s["resolved"] + s["silent"]) / s["n"])
        assert g["strict_solution_index"] == pytest.approx(s["resolved"] / s["n"])
        assert g["answered_share"] == pytest.approx(s["answered"] / s["n"])
        assert g["avg_answer_days"] == (pytest.approx(s["days"] / s["answered"])
                                        if s["answered"] else None)
        assert g["satisfaction"] == (pytest.approx(s["score"] / s["scored"])
                                     if s["scored"] else None)
    vivo = ours["Vivo - Telefônica"]
    assert vivo["complaints"] == 5_781


def test_records_and_columnar_paths_agree(records, columns):
    a, b = aggregate_records(records), aggregate(columns)
    assert a.national == b.national
    assert a.by == b.by
    assert len(b.by["uf"]) == 27


def test_accumulator_feeds_one_by_one_and_merges(records):
    whole = Accumulator()
    first, second = Accumulator(), Accumulator()
    for i, r in enumerate(records):
        whole.add(r)
        (first if i % 2 else second).add(r)
    assert first != whole
    assert first.merge(second) == whole
    by_values = Accumulator()
    by_values.add_values(True, "Resolvida", 5, 3, count=2)
    assert by_values.indicators()["avg_answer_days"] == 3
    assert by_values.indicators()["satisfaction"] == 5
    assert Accumulator().indicators()["solution_index"] is None  # no division by zero


# -- typed records -----------------------------------------------------------------------------

def test_typed_first_record_and_stripping(records):
    first = records[0]
    assert isinstance(first, Complaint)
    assert first.uf == "MA" and first.city == "São Luís"
    assert str(first.opened_on) == "2014-05-16" and str(first.finalised_on) == "2014-05-19"
    assert first.answer_days == 0 and first.score == 1
    assert first.answered is True and first.contacted_company is True
    assert not any(isinstance(v, str) and v != v.strip() for r in records for v in r)
    assert {r.region for r in records} == {"N", "NE", "CO", "SE", "S"}
    en_dash = [r for r in records if "\u2013" in r.problem]  # byte 0x96 in cp1252
    assert en_dash


def test_plain_and_gzip_and_lf_files_read_the_same(tmp_path):
    raw = gzip.decompress(FILES[0].read_bytes())
    (tmp_path / "plain.csv").write_bytes(raw)
    (tmp_path / "lf.csv").write_bytes(raw.replace(b"\r\n", b"\n"))
    (tmp_path / "gz-without-suffix").write_bytes(FILES[0].read_bytes())
    expected, _ = read_records([FILES[0]])
    assert len(expected) == 70
    for name in ("plain.csv", "lf.csv", "gz-without-suffix"):
        assert read_records([tmp_path / name]) == (expected, [])


# -- malformed rows ----------------------------------------------------------------------------

def _edit(row: str, **changes) -> str:
    fields = row.split(";")
    for column, value in changes.items():
        fields[getattr(layout, column)] = value
    return ";".join(fields)


MALFORMED = [  # (line, reason fragment)
    (";".join(SAMPLE.split(";")[:22]), "22 fields instead of 23"),
    (SAMPLE + ";x", "24 fields instead of 23"),
    (_edit(SAMPLE, C_FINALISED_ON="31/02/2014"), "Data Finalização: not a dd/mm/yyyy date"),
    (_edit(SAMPLE, C_OPENED_ON="2014-05-16"), "Data Abertura: not a dd/mm/yyyy date"),
    (_edit(SAMPLE, C_SCORE="6"), "Nota do Consumidor: 6 out of range 1..5"),
    (_edit(SAMPLE, C_SCORE="0"), "Nota do Consumidor: 0 out of range 1..5"),
    (_edit(SAMPLE, C_SCORE=""), "Nota do Consumidor must be 1..5 when evaluated"),
    (_edit(SAMPLE, C_STATUS="Cancelada"), "Situação: unknown value 'Cancelada'"),
    (_edit(SAMPLE, C_STATUS="Finalizada não avaliada"), "contradicts"),
    (_edit(SAMPLE, C_EVALUATION="Talvez"), "Avaliação Reclamação: unknown value"),
    (_edit(SAMPLE, C_ANSWERED="N"), "Tempo Resposta must be filled exactly when Respondida=S"),
    (_edit(SAMPLE, C_ANSWERED="N", C_ANSWER_DAYS=""),
     "Data Resposta must be filled exactly when Respondida=S"),
    (_edit(SAMPLE, C_ANSWERED="X"), "Respondida: expected S or N"),
    (_edit(SAMPLE, C_UF="XX"), "UF: unknown value 'XX'"),
    (_edit(SAMPLE, C_COMPANY="  "), "Nome Fantasia: empty"),
    (_edit(SAMPLE, C_OPENED_MONTH="13"), "Mês Abertura: 13 out of range 1..12"),
    (_edit(SAMPLE, C_OPENED_MONTH="6"), "Ano/Mês Abertura differ from Data Abertura"),
    (_edit(SAMPLE, C_FINALISED_ON="15/05/2014"), "Data Finalização before Data Abertura"),
    (_edit(SAMPLE, C_ANSWERED_ON="20/05/2014"), "Data Resposta outside"),
    (_edit(SAMPLE, C_ANSWER_DAYS="2"), "Tempo Resposta longer than"),
    (_edit(SAMPLE, C_ANSWER_DAYS="-1"), "Tempo Resposta: not an integer"),
    ("", "empty line"),
]


def _write_cp1252(path: Path, lines, undecodable_line=False) -> Path:
    data = "\r\n".join([layout.HEADER, *lines]).encode("cp1252") + b"\r\n"
    if undecodable_line:  # 0x81 is not defined in Windows-1252
        data += _edit(SAMPLE, C_CITY="Sao Luis?").encode("cp1252").replace(b"?", b"\x81")
        data += b"\r\n"
    path.write_bytes(data)
    return path


def test_malformed_rows_are_rejected_with_file_line_and_reason(tmp_path):
    lines = [SAMPLE] + [line for line, _ in MALFORMED] + [SAMPLE]
    path = _write_cp1252(tmp_path / "bad.csv", lines, undecodable_line=True)
    reader = Reader()
    accepted = list(reader.records(path))
    assert len(accepted) == 2 and accepted[0] == accepted[1]
    assert reader.rows == len(lines) + 1 and reader.accepted == 2
    rejections = reader.rejections
    assert len(rejections) == len(MALFORMED) + 1
    for rejection, (_line, fragment) in zip(rejections, MALFORMED):
        assert rejection.file == str(path)
        assert fragment in rejection.reason, (rejection, fragment)
    # line numbers: header is 1, the first valid row 2, malformed rows from 3 on, then the
    # second valid row and the undecodable one
    last = 3 + len(MALFORMED) + 1
    assert [r.line for r in rejections] == [*range(3, 3 + len(MALFORMED)), last]
    assert rejections[-1].reason == "Cidade: not valid Windows-1252"
    for rejection in rejections:  # never echo the row
        assert "Telecomunicações" not in str(rejection) and "Luís" not in str(rejection)
    assert str(rejections[0]).startswith(f"{path}:3: ")


def test_columnar_path_rejects_the_same_rows(tmp_path):
    lines = [SAMPLE] + [line for line, _ in MALFORMED]
    path = _write_cp1252(tmp_path / "bad.csv", lines)
    reader = Reader()
    list(reader.records(path))
    columns = read_columns([path])
    assert len(columns) == 1 and columns.rows == len(lines)
    assert columns.rejections == reader.rejections


def test_blocks_hold_the_records_column_wise(tmp_path):
    lines = [SAMPLE, *[line for line, _ in MALFORMED], SAMPLE.replace(";M;", ";F;", 1), SAMPLE]
    path = _write_cp1252(tmp_path / "bad.csv", lines)
    by_record = Reader()
    records = list(by_record.records(path))
    by_block = Reader()
    blocks = list(by_block.blocks(path, 2))
    assert [len(block) for block in blocks] == [len(layout.Complaint._fields)] * 2
    assert [len(block[0]) for block in blocks] == [2, 1]  # 3 accepted rows, 2 at a time
    assert [Complaint(*row) for block in blocks for row in zip(*block)] == records
    assert by_block.rejections == by_record.rejections and by_block.accepted == 3
    assert list(by_block.blocks(_write_cp1252(tmp_path / "none.csv", [MALFORMED[0][0]]), 2)) == []


def test_whole_file_problems_raise_format_error(tmp_path):
    other = DATA / "cfpb-sample" / "complaints_sample.csv.gz"
    if other.exists():
        with pytest.raises(FormatError, match="header has 1 columns"):
            read_columns([other])
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FormatError, match="empty file"):
        read_columns([tmp_path / "empty.csv"])
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(FormatError, match="gzip"):
        read_columns([tmp_path / "broken.gz"])
    renamed = layout.HEADER.replace("Nome Fantasia", "Empresa")
    (tmp_path / "renamed.csv").write_bytes((renamed + "\r\n" + SAMPLE).encode("cp1252"))
    with pytest.raises(FormatError, match="'Empresa' should be 'Nome Fantasia'"):
        read_columns([tmp_path / "renamed.csv"])


# -- writer / round trip -----------------------------------------------------------------------

def _strip_padding(original: bytes) -> bytes:
    """The original with trailing spaces removed from every field but Região (CHAR(2))."""
    out = []
    for line in original.split(b"\r\n")[:-1]:
        fields = line.split(b";")
        out.append(b";".join([fields[0]] + [f.rstrip(b" ") for f in fields[1:]]))
    return b"\r\n".join(out) + b"\r\n"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:7])
def test_round_trip(path, tmp_path):
    original = gzip.decompress(path.read_bytes())
    reader = Reader()
    records = list(reader.records(path))
    # Stripped values: output differs from the original only by the catalogue-name padding.
    written = dumps(records)
    assert written.startswith(original[:original.index(b"\r\n") + 2])  # header byte-identical
    assert written == _strip_padding(original)
    out = tmp_path / "out.csv.gz"
    write_records(out, records)
    assert read_records([out]) == (records, [])
    # With the padding the reader saw, the published bytes come back exactly.
    exact = dumps(records, padding=reader.padding())
    assert hashlib.sha256(exact).hexdigest() == SHA256[path.name[:7]]


def test_writer_refuses_values_the_layout_cannot_hold(records):
    with pytest.raises(ValueError, match="';'"):
        dumps([records[0]._replace(city="A;B")])
    with pytest.raises(ValueError, match="Windows-1252"):
        dumps([records[0]._replace(city="Kraków \u4e2d")])
