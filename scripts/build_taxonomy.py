"""Builds a country pack's taxonomy.csv from real open data.

    build_taxonomy.py br ../shared/data/consumidor-gov-br-2014/*.csv.gz > countries/br/taxonomy.csv
    build_taxonomy.py ar ../shared/data/argentina-caba-denuncias/denuncias-defensa-del-consumidor.csv.gz

Brazil: the distinct (segment, area, subject, problem group, problem) paths of the Consumidor.gov.br
files. Argentina: Buenos Aires City's business sectors (rubro) and complaint reasons (motivo), which
have no deeper levels, so area/subject/group repeat the sector and the reason's prefix.
"""
import csv
import gzip
import re
import sys
import unicodedata


def slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60]


def brazil(paths):
    rows = set()
    for path in paths:
        with gzip.open(path, "rt", encoding="cp1252", newline="") as handle:
            reader = csv.reader(handle, delimiter=";")
            header = [h.strip() for h in next(reader)]
            at = {name: header.index(name) for name in
                  ("Segmento de Mercado", "Área", "Assunto", "Grupo Problema", "Problema")}
            for record in reader:
                rows.add(tuple(record[at[name]].strip() for name in at))
    return rows


def argentina(paths):
    rows = set()
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            for record in csv.DictReader(handle):
                sector = record["rubro"].strip()
                reason = re.sub(r"\s+", " ", record["motivo_denuncia"].strip())
                group = reason.split(" - ")[0].split(". ")[0].strip()
                if sector and reason:
                    rows.add((sector, sector, group, group, reason))
    return rows


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("br", "ar"):
        print(__doc__, file=sys.stderr)
        return 2
    rows = (brazil if sys.argv[1] == "br" else argentina)(sys.argv[2:])
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["segment_code", "segment", "area", "subject", "problem_group", "problem"])
    for row in sorted(rows):
        writer.writerow([slug(row[0]), *row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
