"""The complaint taxonomy read from the country packs' taxonomy.csv (real open data)."""
import csv

import pytest

from concilia.chassis.country import PackError, load_pack
from services.company_registry.taxonomy import CODE_MAX, code_for, fold, load_taxonomy, taxonomy_of

LEVELS = ("area", "subject", "problem_group", "problem")


def rows_of(country: str) -> list[dict]:
    with load_pack(country).taxonomy_file.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def leaves(node, path=()):
    if not node.children:
        yield path
    for child in node.children.values():
        yield from leaves(child, path + (child.code,))


@pytest.mark.parametrize("country", ["BR", "AR"])
def test_every_row_of_the_pack_is_reachable_by_codes(country):
    taxonomy = taxonomy_of(load_pack(country))
    rows = rows_of(country)
    assert set(taxonomy.segments) == {row["segment_code"] for row in rows}
    for row in rows:
        node = taxonomy.segment(row["segment_code"])
        for level in LEVELS:
            node = node.children[code_for(row[level])]
            assert fold(node.name) == fold(row[level])
        assert node.children == {}
    # One leaf per distinct path, where names differing only in case/accents are the same node.
    distinct = {(row["segment_code"], *(fold(row[level]) for level in LEVELS)) for row in rows}
    assert sum(len(list(leaves(segment))) for segment in taxonomy.segments.values()) == len(distinct)


@pytest.mark.parametrize("country", ["BR", "AR"])
def test_codes_are_short_slugs_and_the_same_on_every_load(country):
    first, second = taxonomy_of(load_pack(country)), taxonomy_of(load_pack(country))
    codes = [path for segment in first.segments.values() for path in leaves(segment)]
    assert codes == [path for segment in second.segments.values() for path in leaves(segment)]
    for path in codes:
        for code in path:
            assert 0 < len(code) <= CODE_MAX and code == code.lower() and " " not in code


def test_long_names_sharing_a_prefix_get_different_codes():
    # Real Argentine reasons: identical for their first 60 characters.
    prefix = "Incumplimiento de Oferta Promociones y/o Bonificaciones. Art. 7 de la Ley 24.241 - "
    a, b = code_for(prefix + "Precios - Precio excesivo"), code_for(prefix + "Problemas de fraude o estafa")
    assert a != b and len(a) == len(b) == CODE_MAX
    assert code_for("Atendimento / SAC") == "atendimento-sac"
    assert code_for("Produtos de Telefonia e Informática") == code_for("produtos de telefonia e informatica")


def test_the_brazilian_case_variants_of_one_area_are_one_node():
    segment = taxonomy_of(load_pack("BR")).segment("comercio-eletronico")
    matching = [a for a in segment.children.values() if fold(a.name) == "produtos de telefonia e informatica"]
    assert len(matching) == 1


HEADER = "segment_code,segment,area,subject,problem_group,problem\n"


@pytest.mark.parametrize("content, where", [
    ("segment_code,segment,area\nx,X,A\n", ":1: missing columns"),
    (HEADER + "bancos,Bancos,A,S,G,P\nbancos,Bancos,A,S,,P\n", ":3: empty problem_group"),
    (HEADER + "bancos,Bancos,A,S,G,P\nbancos,Outro nome,A,S,G,P\n", ":3: segment_code 'bancos' already names"),
    (HEADER + "Bancos Grandes,Bancos,A,S,G,P\n", ":2: segment_code"),
    (HEADER, ":1: no taxonomy rows"),
])
def test_a_malformed_taxonomy_names_file_and_line(tmp_path, content, where):
    path = tmp_path / "taxonomy.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PackError) as raised:
        load_taxonomy(path)
    assert str(raised.value).startswith(str(path)) and where in str(raised.value)
