"""A fourth, fictional country added by files only: its pack loads from CONCILIA_COUNTRY_PACKS_DIR
and drives deadlines, ID validation, routing, adhesion and the gateway's language and formats,
with no code change. (The full complaint lifecycle under it comes with the complaint service.)"""
import shutil
from datetime import datetime, timezone

import pytest

from concilia.chassis import i18n
from concilia.chassis.country import DEFAULT_PACKS_DIR, load_pack, mandatory_adhesion_reasons, pack_from_env
from concilia.chassis.errors import InvalidArgument

PACK = """\
# Freedonia: a country that exists only in this test.
code: FD
name: Freedonia
pack_version: "1"
languages: [en, es-AR]
default_locale: en
format_locale: en_IE
time_zone: Europe/Dublin
currency: EUR
person_id: {label: Freedonian ID, schemes: [uy.ci]}
company_id: {label: Freedonian company number, schemes: [ar.cuit]}
windows: {company_answer_days: 7, consumer_evaluation_days: 14, reminder_days_before: 1, day_count: business}
holidays_file: days-off.csv
taxonomy_file: taxonomy.csv
indicators: {formula_version: br-2015-evaluated}
refusal_reasons: [not_customer, duplicate]
hearing: {enabled: true, schedule_within_business_days: 5, outcomes: [agreement, no_agreement]}
routing: {by: region}
company_facts: {segment_code: segment, stores: number}
adhesion_rules:
  - {id: chains, description: Retail chains with 10 stores or more, when: {stores: {gte: 10}}}
  - {id: utilities, description: Utilities, when: {segment_code: {in: [utilities]}}}
limits: {description_max_chars: 2000}
authorities:
  - {id: fca, name: Freedonia Consumer Agency, jurisdiction: FD}
  - {id: north, name: Northern Consumer Office, jurisdiction: FD-N, regions: [FD-N]}
"""
HOLIDAYS = "date,name\n2026-07-14,Freedom Day\n"
TAXONOMY = ("segment_code,segment,area,subject,problem_group,problem\n"
            "utilities,Utilities,Energy,Electricity,Billing,Wrong bill\n"
            "retail,Retail,Shops,Clothes,Delivery,Never delivered\n")


@pytest.fixture
def freedonia(tmp_path, monkeypatch):
    folder = tmp_path / "fd"
    folder.mkdir()
    (folder / "pack.yaml").write_text(PACK, encoding="utf-8")
    (folder / "days-off.csv").write_text(HOLIDAYS, encoding="utf-8")
    (folder / "taxonomy.csv").write_text(TAXONOMY, encoding="utf-8")
    shutil.copytree(DEFAULT_PACKS_DIR / "br", tmp_path / "br")  # a deployment's folder may hold several packs
    monkeypatch.setenv("CONCILIA_COUNTRY_PACKS_DIR", str(tmp_path))
    monkeypatch.setenv("CONCILIA_COUNTRY", "FD")
    pack_from_env.cache_clear()
    yield pack_from_env()
    pack_from_env.cache_clear()


def test_the_fictional_pack_loads_from_the_environment(freedonia):
    assert (freedonia.code, freedonia.currency, freedonia.time_zone) == ("FD", "EUR", "Europe/Dublin")
    assert load_pack("BR").code == "BR"  # the other pack of the folder is still there


def test_it_drives_deadlines_with_its_own_holidays(freedonia):
    # Friday 2026-07-10 12:00 UTC + 7 business days: 13, (14 Freedom Day), 15, 16, 17, 20, 21, 22.
    deadline = freedonia.add_days(datetime(2026, 7, 10, 12, 0, tzinfo=timezone.utc), 7)
    assert deadline == datetime(2026, 7, 22, 23, 0, tzinfo=timezone.utc)  # 2026-07-23 00:00 Irish summer time
    hearing = freedonia.add_business_days(datetime(2026, 7, 10, 12, tzinfo=timezone.utc), 5)
    # 13, (14), 15, 16, 17, 20: the end of Monday the 20th.
    assert hearing.astimezone(freedonia.zone).date().isoformat() == "2026-07-21"


def test_it_validates_ids_with_the_schemes_it_names(freedonia):
    assert freedonia.person_id.normalise("national_id", "1.234.567-2") == "12345672"
    with pytest.raises(InvalidArgument, match="not a valid Freedonian ID"):
        freedonia.person_id.normalise("national_id", "529.982.247-25")  # a Brazilian CPF is not valid here
    assert freedonia.company_id.normalise("tax_id", "30-50001091-2") == "30500010912"


def test_it_routes_and_applies_its_adhesion_rules(freedonia):
    assert freedonia.route("FD-N").id == "north" and freedonia.route("FD-S").id == "fca"
    assert mandatory_adhesion_reasons(freedonia, {"segment_code": "utilities", "stores": 12}) == ["chains", "utilities"]
    assert mandatory_adhesion_reasons(freedonia, {"segment_code": "retail", "stores": 3}) == []
    assert freedonia.hearing["outcomes"] == ("agreement", "no_agreement")


def test_it_picks_languages_and_formats(freedonia):
    assert i18n.offered_locales(freedonia) == ["en", "es-AR"]
    assert i18n.choose_locale(freedonia, "pt-BR") == "en"       # not offered: the pack's default
    assert i18n.choose_locale(freedonia, "es") == "es-AR"
    assert i18n.format_currency(1234.5, freedonia, "en") == "€1,234.50"
    assert i18n.format_currency(1234.5, freedonia, "es-AR") == "EUR1.234,50"  # CLDR es_AR writes the code
    assert i18n.format_date(datetime(2026, 7, 22, 23, 30, tzinfo=timezone.utc), freedonia, "en") == "23 Jul 2026"


def test_the_gateway_serves_it_in_its_languages(freedonia):
    from services.gateway.app import create_app
    client = create_app().test_client()
    page = client.get("/register").get_data(as_text=True)
    assert '<html lang="en">' in page and "Freedonian ID" in page and "Create a consumer account" in page
    page = client.get("/register?lang=es-AR").get_data(as_text=True)
    assert '<html lang="es-AR">' in page and "Crear una cuenta de consumidor" in page and "Freedonian ID" in page
    assert "Português" not in page  # only the pack's languages are offered
