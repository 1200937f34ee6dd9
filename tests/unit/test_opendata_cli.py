"""`concilia opendata` run as a subprocess on the real open-data files (its speed: bench/bench_opendata.py)."""
import csv
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
BR = DATA / "consumidor-gov-br-2014"
FILES = sorted(BR.glob("*.csv.gz"))
pytestmark = pytest.mark.skipif(len(FILES) != 9,
                                reason=f"real open-data files not found in {BR}")

HEADER = ("Região;UF;Cidade;Sexo;Faixa Etária;Ano Abertura;Mês Abertura;Data Abertura;"
          "Data Resposta;Data Finalização;Tempo Resposta;Nome Fantasia;Segmento de Mercado;"
          "Área;Assunto;Grupo Problema;Problema;Como Comprou Contratou;Procurou Empresa;"
          "Respondida;Situação;Avaliação Reclamação;Nota do Consumidor")
SAMPLE = ("SE;RJ;Rio de Janeiro;M;entre 31 a 40 anos;2014;5;07/05/2014;07/05/2014;07/05/2014;0;"
          "Tim;Operadoras de Telecomunicações (Telefonia, Internet, TV por assinatura);"
          "Telecomunicações;Internet Móvel;Vício de Qualidade;Funcionamento inadequado do serviço "
          "(má qualidade do sinal, instabilidade, queda);Telefone;N;S;Finalizada avaliada;"
          "Resolvida;5")


def concilia(*args, check=True):
    env = dict(os.environ)
    # Works with the editable install in .venv and with a plain interpreter alike.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "lib"),
                                                      env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", "concilia.cli.main", "opendata", *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_indicators_json_on_all_nine_files():
    out = json.loads(concilia("indicators", *map(str, FILES), "--json").stdout)
    assert out["complaints"] == 45_772
    assert round(out["solution_index"], 4) == 0.7316
    assert round(out["strict_solution_index"], 4) == 0.4302
    assert round(out["answered_share"], 4) == 0.9952
    assert round(out["avg_answer_days"], 2) == 6.59
    assert round(out["satisfaction"], 2) == 3.03
    assert out["rejected"] == 0 and out["formula"] == "br-2015"
    assert out["rows_per_second"] > 0
    companies = out["by_company"]
    assert len(companies) == 179
    assert "Vivo - Telefônica" in companies and "Vivo - Telefônica " not in companies
    for key in ("complaints", "solution_index", "strict_solution_index", "answered_share",
                "avg_answer_days", "satisfaction"):
        assert key in companies["Tim"]
    # full precision, not rounded
    assert out["solution_index"] != round(out["solution_index"], 4)


def test_indicators_json_company_matches_csv_module():
    # "Claro Celular" recomputed with csv.DictReader: a path independent of concilia.opendata.
    n = resolved = silent = answered = days = 0
    for path in FILES:
        text = gzip.decompress(path.read_bytes()).decode("cp1252")
        for row in csv.DictReader(io.StringIO(text, newline=""), delimiter=";"):
            if row["Nome Fantasia"].strip() != "Claro Celular":
                continue
            n += 1
            resolved += row["Avaliação Reclamação"] == "Resolvida"
            silent += row["Avaliação Reclamação"] == "Não Avaliada"
            if row["Respondida"] == "S":
                answered += 1
                days += int(row["Tempo Resposta"])
    claro = json.loads(concilia("indicators", *map(str, FILES), "--json").stdout)[
        "by_company"]["Claro Celular"]
    assert claro["complaints"] == n == 2_626
    assert claro["solution_index"] == pytest.approx((resolved + silent) / n)
    assert claro["strict_solution_index"] == pytest.approx(resolved / n)
    assert claro["avg_answer_days"] == pytest.approx(days / answered)


def test_indicators_table_and_formula_choice():
    table = concilia("indicators", *map(str, FILES)).stdout
    assert "73.16%" in table and "43.02%" in table and "99.52%" in table
    assert "6.59" in table and "3.03" in table and "45,772" in table
    evaluated = json.loads(concilia("indicators", *map(str, FILES), "--json",
                                    "--formula", "br-2015-evaluated").stdout)
    assert round(evaluated["solution_index"], 4) == 0.6158
    bad = concilia("indicators", str(FILES[0]), "--formula", "nope", check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_validate_real_files_and_malformed_file(tmp_path):
    good = concilia("validate", *map(str, FILES))
    assert "45,772" in good.stdout and good.stdout.rstrip().endswith("0")

    bad_row = SAMPLE.replace(";Resolvida;5", ";Resolvida;7")
    path = tmp_path / "2014-05-bad.csv"
    path.write_bytes(("\r\n".join([HEADER, SAMPLE, bad_row, "", SAMPLE]) + "\r\n")
                     .encode("cp1252"))
    result = concilia("validate", str(path), check=False)
    assert result.returncode == 1
    assert f"{path}:3: Nota do Consumidor: 7 out of range 1..5" in result.stdout
    assert f"{path}:4: empty line" in result.stdout
    assert "Rio de Janeiro" not in result.stdout  # rows are never echoed
    # indicators skip and count the rejected rows
    out = json.loads(concilia("indicators", str(path), "--json").stdout)
    assert (out["rows"], out["complaints"], out["rejected"]) == (4, 2, 2)

    other = concilia("validate", str(DATA / "cfpb-sample" / "complaints_sample.csv.gz"),
                     check=False)
    assert other.returncode == 2 and "header has 1 columns" in other.stdout


def test_help_texts():
    for args in (["--help"], ["indicators", "--help"], ["validate", "--help"]):
        text = concilia(*args).stdout
        assert "Consumidor.gov.br" in text
    assert "br-2015" in concilia("indicators", "--help").stdout
    assert concilia(check=False).returncode == 2  # no action: usage
