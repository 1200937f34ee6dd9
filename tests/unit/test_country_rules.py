"""Country packs, issue 6: Uruguay, business days across holidays, real IDs, Argentine routing,
hearings, indicator formulas, Brazil's mandatory-adhesion rules, and validation of all of it."""
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from stdnum.ar import cuit
from stdnum.br import cnpj, cpf

from concilia.chassis.country import DEFAULT_PACKS_DIR, PackError, load_pack, mandatory_adhesion_reasons
from concilia.chassis.errors import InvalidArgument

NOON_UTC = 15  # 12:00 in São Paulo, Buenos Aires and Montevideo (UTC-3, no DST in 2026)


def local_day(pack, deadline: datetime) -> str:
    """The last day of a window: deadlines are the local midnight after it."""
    return (deadline.astimezone(pack.zone).date() - timedelta(days=1)).isoformat()


# --- deadlines across holidays ----------------------------------------------------------------
def test_uruguay_business_days_skip_semana_de_turismo():
    uy = load_pack("UY")
    # Friday 2026-03-27 + 3 business days: Mon 30 .. Fri 3 April is Semana de Turismo, so 6, 7, 8 April.
    deadline = uy.add_days(datetime(2026, 3, 27, NOON_UTC, tzinfo=timezone.utc), 3)
    assert local_day(uy, deadline) == "2026-04-08"
    assert deadline == datetime(2026, 4, 9, 3, 0, tzinfo=timezone.utc)  # 2026-04-09 00:00 in Montevideo


def test_uruguay_business_days_skip_natalicio_de_artigas():
    uy = load_pack("UY")
    # Friday 2026-06-12 + 5: 15, 16, 17, 18, (19 is a holiday, 20-21 weekend) 22.
    assert local_day(uy, uy.add_days(datetime(2026, 6, 12, NOON_UTC, tzinfo=timezone.utc), 5)) == "2026-06-22"


def test_argentine_hearing_is_scheduled_in_business_days_across_carnaval():
    ar = load_pack("AR")
    assert ar.hearing == {"enabled": True, "schedule_within_business_days": 15, "mode": "online",
                          "outcomes": ("agreement", "no_agreement", "no_show")}
    # Friday 2026-02-13; Carnaval is Mon 16 and Tue 17 February: day 1 is Wed 18, day 15 is Tue 10 March.
    latest = ar.add_business_days(datetime(2026, 2, 13, NOON_UTC, tzinfo=timezone.utc),
                                  ar.hearing["schedule_within_business_days"])
    assert local_day(ar, latest) == "2026-03-10"


def test_brazil_has_no_hearing_and_counts_calendar_days_even_over_carnaval():
    br = load_pack("BR")
    assert br.hearing == {"enabled": False} and not br.hearing_enabled
    assert local_day(br, br.add_days(datetime(2026, 2, 13, NOON_UTC, tzinfo=timezone.utc), 10)) == "2026-02-23"


# --- national IDs with real check digits ------------------------------------------------------
@pytest.mark.parametrize("code,field,valid,compact,invalid", [
    ("BR", "person_id", "529.982.247-25", "52998224725", "529.982.247-24"),
    ("BR", "company_id", "11.222.333/0001-81", "11222333000181", "11.222.333/0001-80"),
    ("AR", "person_id", "20-12345678-6", "20123456786", "20-12345678-5"),
    ("AR", "company_id", "30-50001091-2", "30500010912", "30-50001091-3"),
    # Uruguay: CI 1.234.567-2 (2·1+9·2+8·3+7·4+6·5+3·6+4·7 = 148, 10 - 8 = 2); RUT from python-stdnum's examples.
    ("UY", "person_id", "1.234.567-2", "12345672", "1.234.567-3"),
    ("UY", "person_id", "1.111.111-1", "11111111", "1.111.111-2"),
    ("UY", "person_id", "987.654-9", "09876549", "987.654-5"),   # 6-digit number, zero-padded
    ("UY", "company_id", "21-100342-001-7", "211003420017", "21-100342-001-8"),
    ("UY", "company_id", "UY 21 140634 001 1", "211406340011", "21 140634 001 2"),
])
def test_each_pack_validates_its_ids_with_real_check_digits(code, field, valid, compact, invalid):
    scheme = getattr(load_pack(code), field)
    assert scheme.normalise("national_id", valid) == compact
    with pytest.raises(InvalidArgument) as error:
        scheme.normalise("national_id", invalid)
    assert error.value.field == "national_id" and scheme.label in str(error.value)


def test_generated_ids_agree_with_stdnum():
    # The fixtures' generators and the packs agree on many numbers, not only on the examples above.
    br, ar = load_pack("BR"), load_pack("AR")
    for n in range(100_000_000, 100_000_000 + 50 * 7919, 7919):
        base = f"{n:09d}"
        assert br.person_id.normalise("id", base + cpf._calc_check_digits(base)) == base + cpf._calc_check_digits(base)
        company = f"{n % 10**8:08d}0001"
        assert br.company_id.normalise("id", company + cnpj.calc_check_digits(company))
        assert ar.company_id.normalise("id", "30" + f"{n % 10**8:08d}" + cuit.calc_check_digit("30" + f"{n % 10**8:08d}"))


def test_uruguayan_ci_rejects_letters_and_wrong_lengths():
    uy = load_pack("UY")
    for bad in ("1.234.567-2x", "CI 12345672", "123-4", "123456789-0", ""):
        with pytest.raises(InvalidArgument):
            uy.person_id.normalise("national_id", bad)


# --- routing to the competent authority ---------------------------------------------------------
@pytest.mark.parametrize("region,municipality,expected", [
    ("AR-B", "La Plata", "omic-la-plata"),
    ("AR-B", "la  plata", "omic-la-plata"),            # spacing and case do not matter
    ("AR-B", "Mar del Plata", "omic-general-pueyrredon"),
    ("AR-X", "Cordoba", "cordoba-capital"),             # accents do not matter
    ("AR-X", "Río Cuarto", "cordoba"),                  # no municipal office: the province's
    ("AR-B", "", "pba"),
    ("AR-C", "", "caba"),
    ("AR-Q", "Neuquén", "dndc"),                        # no provincial office in the pack: the national one
    ("", "", "dndc"),
])
def test_argentine_complaints_go_to_the_competent_authority(region, municipality, expected):
    ar = load_pack("AR")
    assert ar.routing == "municipality"
    assert ar.route(region, municipality).id == expected


def test_routing_depth_follows_the_pack():
    br, uy = load_pack("BR"), load_pack("UY")
    assert br.route("BR-SP", "Campinas").id == "procon-sp" and br.route("BR-AM").id == "senacon"
    assert uy.route("UY-MO", "Montevideo").id == "adc"
    # authority_for keeps its old one-argument form.
    assert load_pack("AR").authority_for("AR-B").id == "pba"


# --- indicator formulas ------------------------------------------------------------------------
def test_packs_name_registered_indicator_formulas():
    assert load_pack("BR").published_formulas == ("br-2015", "strict-v1")
    assert load_pack("UY").published_formulas == ("strict-v1", "br-2015")
    assert load_pack("UY").formula_version == "strict-v1"


# --- Brazil's mandatory adhesion ----------------------------------------------------------------
@pytest.mark.parametrize("facts,reasons", [
    ({"segment_code": "transporte-aereo"}, ["essential-services"]),
    ({"segment_code": "varejo", "marketplace": True}, ["large-platforms"]),
    ({"segment_code": "varejo", "digital_platform": True, "marketplace": False}, ["large-platforms"]),
    ({"monthly_complaints_average": 1000}, ["high-complaint-volume"]),
    ({"monthly_complaints_average": 999.5}, []),
    ({"consumer_lawsuits": 500}, []),                    # "more than 500"
    ({"consumer_lawsuits": 501}, ["consumer-litigation"]),
    ({"annual_gross_revenue": 100_000_000}, ["revenue-threshold"]),
    ({"annual_gross_revenue": 99_999_999.99}, []),
    ({"segment_code": "operadoras-de-telecomunicacoes-telefonia-internet-tv-por-ass", "annual_gross_revenue": 5e9,
      "monthly_complaints_average": 40_000}, ["essential-services", "high-complaint-volume", "revenue-threshold"]),
    ({"segment_code": "supermercados", "digital_platform": False, "annual_gross_revenue": None}, []),
    ({}, []),
])
def test_brazilian_mandatory_adhesion_rules(facts, reasons):
    assert mandatory_adhesion_reasons(load_pack("BR"), facts) == reasons


def test_adhesion_facts_are_checked():
    br = load_pack("BR")
    with pytest.raises(InvalidArgument) as error:
        mandatory_adhesion_reasons(br, {"employees": 10})
    assert error.value.field == "company_facts.employees"
    for fact, value in (("annual_gross_revenue", "lots"), ("marketplace", "yes"), ("consumer_lawsuits", -1),
                        ("segment_code", 3), ("monthly_complaints_average", True)):
        with pytest.raises(InvalidArgument) as error:
            mandatory_adhesion_reasons(br, {fact: value})
        assert error.value.field == f"company_facts.{fact}"
    assert mandatory_adhesion_reasons(load_pack("AR"), {}) == []


def test_rules_are_data_with_ids_and_descriptions():
    rules = load_pack("BR").adhesion_rules
    assert [r.id for r in rules] == ["essential-services", "large-platforms", "high-complaint-volume",
                                     "consumer-litigation", "revenue-threshold"]
    assert all(r.description for r in rules)


# --- validation with file and line ------------------------------------------------------------
def edited_pack(tmp_path: Path, code: str, old: str, new: str) -> tuple[Path, int]:
    """A copy of a shipped pack with one edit; returns its pack.yaml and the edited line number."""
    shutil.copytree(DEFAULT_PACKS_DIR / code.lower(), tmp_path / code.lower())
    pack_file = tmp_path / code.lower() / "pack.yaml"
    text = pack_file.read_text(encoding="utf-8")
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    pack_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    return pack_file, line


@pytest.mark.parametrize("code,old,new,message", [
    ("BR", "monthly_complaints_average: {gte: 1000}", "monthly_complaints_average: {gte: many}", "must be a number value"),
    ("BR", "consumer_lawsuits: {gt: 500}", "consumer_lawsuits: {in: [500]}", "a number fact allows gte, gt, lte, lt"),
    ("BR", "consumer_lawsuits: {gt: 500}", "lawsuits: {gt: 500}", "undeclared fact 'lawsuits'"),
    ("BR", "      segment_code:\n        in:\n", "      segment_code:\n        in:\n          - transporte-espacial\n",
     "segments not in the taxonomy: transporte-espacial"),
    ("BR", "  - id: large-platforms", "  - id: essential-services", "used twice"),
    ("BR", "  marketplace: flag", "  marketplace: yes-or-no", "unknown type 'yes-or-no'"),
    ("AR", "  schedule_within_business_days: 15", "  schedule_within_business_days: 0", "must be positive"),
    ("AR", "  outcomes: [agreement, no_agreement, no_show]", "  outcomes: [agreement, postponed]", "hearing.outcomes"),
    ("AR", "routing: {by: municipality}", "routing: {by: street}", "routing.by must be one of"),
    ("AR", "regions: [AR-X]}", "regions: [Cordoba]}", "not an ISO 3166-2 code of AR"),
    ("AR", "jurisdiction: AR-M,", "jurisdiction: UY,", "jurisdiction must be AR or AR-<subdivision>"),
    ("UY", "  formula_version: strict-v1", "  formula_version: strict-v9", "unknown indicator formula 'strict-v9'"),
    ("UY", "default_locale: es_AR", "default_locale: pt_BR", "is not one of the pack's languages"),
    ("UY", "format_locale: es_UY", "format_locale: xx_QQ", "unknown locale 'xx_QQ'"),
    ("UY", "currency: UYU", "currency: pesos", "ISO 4217"),
])
def test_bad_rules_are_reported_with_file_and_line(tmp_path, code, old, new, message):
    pack_file, line = edited_pack(tmp_path, code, old, new)
    with pytest.raises(PackError) as error:
        load_pack(code, tmp_path)
    assert message in str(error.value)
    assert str(error.value).startswith(f"{pack_file}:")
    reported = int(str(error.value)[len(str(pack_file)) + 1:].split(":")[0])
    assert abs(reported - line) <= 1, (reported, line, str(error.value))


def test_exactly_one_national_authority(tmp_path):
    edited_pack(tmp_path, "UY", "jurisdiction: UY}", "jurisdiction: UY-MO, regions: [UY-MO]}")
    with pytest.raises(PackError, match="exactly one authority must have jurisdiction UY"):
        load_pack("UY", tmp_path)
