"""Languages: locale choice, Babel formatting per pack, translated pages and errors in the gateway,
and the catalog check (scripts/i18n.py)."""
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from concilia.chassis import i18n
from concilia.chassis.country import load_pack, pack_from_env

REPO = Path(__file__).resolve().parents[2]


# --- choosing the language ---------------------------------------------------------------------
def test_the_choice_must_be_offered_by_the_pack():
    br, ar, uy = load_pack("BR"), load_pack("AR"), load_pack("UY")
    assert i18n.choose_locale(br) == "pt-BR" and i18n.choose_locale(ar) == "es-AR" and i18n.choose_locale(uy) == "es-AR"
    assert i18n.choose_locale(br, "en") == "en"
    assert i18n.choose_locale(br, "es-AR") == "pt-BR"          # Brazil does not offer Spanish
    assert i18n.choose_locale(uy, "es_UY") == "es-AR"           # Uruguay is served by the es-AR catalog
    assert i18n.choose_locale(ar, "", "EN") == "en"             # first non-empty candidate wins
    assert i18n.choose_locale(ar, "fr", "de") == "es-AR"


# --- formatting --------------------------------------------------------------------------------
LATE_EVENING = datetime(2026, 3, 2, 2, 30, tzinfo=timezone.utc)  # still 1 March in São Paulo/Buenos Aires/Montevideo


@pytest.mark.parametrize("code,locale,day,money,number", [
    ("BR", "pt-BR", "1 de mar. de 2026", "R$ 1.234,50", "1.234.567,89"),
    ("BR", "en", "Mar 1, 2026", "R$1,234.50", "1,234,567.89"),
    ("AR", "es-AR", "1 mar 2026", "$1.234,50", "1.234.567,89"),
    # Uruguay's pages speak es-AR but write dates and pesos as in Uruguay (format_locale es_UY).
    ("UY", "es-AR", "1 mar. 2026", "$ 1.234,50", "1.234.567,89"),
    ("UY", "en", "Mar 1, 2026", "UYU1,234.50", "1,234,567.89"),
])
def test_dates_numbers_and_money_follow_locale_and_time_zone(code, locale, day, money, number):
    pack = load_pack(code)
    assert i18n.format_date(LATE_EVENING, pack, locale) == day
    assert i18n.format_currency(1234.5, pack, locale).replace("\xa0", " ") == money
    assert i18n.format_number(1234567.891, pack, locale, decimals=2) == number


def test_datetimes_are_shown_in_the_pack_time_zone():
    br = load_pack("BR")
    assert i18n.format_datetime(LATE_EVENING, br, "pt-BR", "short") == "01/03/2026 23:30"
    assert i18n.format_datetime("2026-03-02T02:30:00Z", br, "en", "short") == "3/1/26, 11:30\u202fPM"
    assert i18n.format_datetime(None, br, "en") == "" and i18n.format_currency(None, br, "en") == ""
    assert i18n.format_percent(0.7316, br, "pt-BR") == "73,2%"


def test_uruguayan_pesos_differ_from_the_plain_es_ar_format():
    # Without the pack's format_locale, es_AR would write "UYU 1.234,50".
    from babel.numbers import format_currency
    assert format_currency(1234.5, "UYU", locale="es_AR").replace("\xa0", " ") != \
        i18n.format_currency(1234.5, load_pack("UY"), "es-AR").replace("\xa0", " ")


# --- the gateway -------------------------------------------------------------------------------
@pytest.fixture
def gateway(monkeypatch):
    def make(country: str):
        from services.gateway.app import create_app
        monkeypatch.setenv("CONCILIA_COUNTRY", country)
        monkeypatch.setenv("IDENTITY_ADDR", "127.0.0.1:9")  # nothing listens: calls fail as UNAVAILABLE
        monkeypatch.setenv("GRPC_CLIENT_TIMEOUT_SECONDS", "2")
        pack_from_env.cache_clear()
        return create_app().test_client()
    yield make
    pack_from_env.cache_clear()


@pytest.mark.parametrize("country,query,lang,title,label", [
    ("BR", "", "pt-BR", "Entrar", "Senha"),
    ("BR", "?lang=en", "en", "Sign in", "Password"),
    ("AR", "", "es-AR", "Iniciar sesión", "Contraseña"),
    ("AR", "?lang=pt-BR", "es-AR", "Iniciar sesión", "Contraseña"),  # not offered in Argentina
    ("UY", "", "es-AR", "Iniciar sesión", "Contraseña"),
])
def test_login_page_in_each_language(gateway, country, query, lang, title, label):
    page = gateway(country).get("/login" + query).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert f"<h1>{title}</h1>" in page and f'<label for="password">{label}</label>' in page


def test_the_choice_is_remembered_in_a_cookie(gateway):
    client = gateway("BR")
    response = client.get("/login?lang=en")
    assert "lang=en" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert "<h1>Create a consumer account</h1>" in client.get("/register").get_data(as_text=True)
    assert '<html lang="en">' in client.get("/register").get_data(as_text=True)
    assert "Set-Cookie" not in client.get("/login?lang=fr").headers  # a language the pack does not offer
    assert '<html lang="pt-BR">' in client.get("/login?lang=pt-BR").get_data(as_text=True)


def test_registration_sends_the_chosen_language_as_the_account_locale(gateway):
    page = gateway("AR").get("/register?lang=en").get_data(as_text=True)
    assert '<input type="hidden" name="locale" value="en">' in page
    assert "<label for=\"national_id\">DNI / CUIL</label>" in page  # the ID label comes from the pack


def test_service_errors_are_shown_translated_by_code(gateway):
    # identity is down: the login form shows UNAVAILABLE in the page language, with no service detail.
    client = gateway("BR")
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))[1]
    response = client.post("/login", data={"email": "x@example.test", "password": "0123456789",
                                           "csrf_token": form_token})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-code="UNAVAILABLE"' in page
    assert "Um serviço está temporariamente indisponível; tente novamente." in page
    assert 'class="detail"' not in page


def test_error_pages_and_json_errors_are_translated(gateway):
    client = gateway("AR")
    page = client.get("/no-such-page").get_data(as_text=True)
    assert "La página o el elemento que pediste no existe." in page and "Volver a la página de inicio" in page
    body = client.get("/api/v1/no-such-thing?lang=en").get_json()
    assert body["error"]["code"] == "NOT_FOUND" and body["error"]["message"] == "no such resource"
    assert body["error"]["localized_message"] == "The page or item you asked for does not exist."


def test_error_text_by_code_and_field(gateway):
    from services.gateway.errors import ApiError
    from services.gateway.locale import error_text
    client = gateway("AR")
    app = client.application
    with app.test_request_context("/?lang=es-AR"):
        taken = error_text(ApiError(409, "ALREADY_EXISTS", "an account with this e-mail already exists", "email"))
        assert taken.message == "Ya existe una cuenta con este correo electrónico." and taken.detail == ""
        city = error_text(ApiError(400, "INVALID_ARGUMENT", "city: must have at most 100 characters", "city"))
        assert city.message == "Revisá el campo “Localidad”."
        assert city.detail == "city: must have at most 100 characters"  # the service's words, as a fallback
        odd = error_text(ApiError(409, "FAILED_PRECONDITION", "complaint is closed", "state"))
        assert odd.message == "Esto no se puede hacer en el estado actual." and odd.detail == "complaint is closed"
        crash = error_text(ApiError(500, "INTERNAL", "internal error"))
        assert crash.message == "Algo salió mal de nuestro lado; probá de nuevo más tarde." and crash.detail == ""
    with app.test_request_context("/?lang=en"):
        assert error_text(ApiError(400, "INVALID_ARGUMENT", "email: is not a valid e-mail address", "email")).message \
            == "Enter a valid e-mail address."


def test_jinja_filters_use_the_page_language_and_the_pack(gateway):
    from flask import render_template_string
    app = gateway("UY").application
    template = "{{ when|format_datetime('short') }} | {{ 1234.5|format_currency }} | {{ 0.5|format_percent }}"
    with app.test_request_context("/"):
        shown = re.sub(r"\s", " ", render_template_string(template, when=LATE_EVENING))  # CLDR's no-break spaces
        assert shown == "1/3/26, 11:30 p. m. | $ 1.234,50 | 50,0%"
    with app.test_request_context("/?lang=en"):
        shown = re.sub(r"\s", " ", render_template_string(template, when=LATE_EVENING))
        assert shown == "3/1/26, 11:30 PM | UYU1,234.50 | 50.0%"


# --- the catalog check -------------------------------------------------------------------------
def run_check(root: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "i18n.py"), "check", "--root", str(root)],
                          capture_output=True, text=True, timeout=120)


def test_the_shipped_catalogs_pass_the_check():
    result = run_check()
    assert result.returncode == 0, result.stderr


@pytest.fixture
def copy_of_gateway(tmp_path):
    """The services that have catalogs (the gateway, the notification service), in a scratch checkout."""
    for service in ("gateway", "notification"):
        shutil.copytree(REPO / "services" / service, tmp_path / "services" / service,
                        ignore=shutil.ignore_patterns("__pycache__"))
    assert run_check(tmp_path).returncode == 0
    return tmp_path


def test_a_marked_string_without_translations_fails(copy_of_gateway):
    login = copy_of_gateway / "services/gateway/templates/identity/login.html"
    login.write_text(login.read_text().replace("</form>", "</form>\n<p>{{ _('Forgot your password?') }}</p>"))
    result = run_check(copy_of_gateway)
    assert result.returncode == 1
    for locale in ("pt_BR", "es_AR", "en"):
        assert f"{locale}/LC_MESSAGES/messages.po: no translation for 'Forgot your password?'" in result.stderr


def test_unmarked_text_in_a_fully_marked_template_fails(copy_of_gateway):
    login = copy_of_gateway / "services/gateway/templates/identity/login.html"
    login.write_text(login.read_text().replace("</form>", '</form>\n<p title="Help">Forgot your password?</p>'))
    result = run_check(copy_of_gateway)
    assert result.returncode == 1
    assert "identity/login.html:11: unmarked text 'Forgot your password?'" in result.stderr
    assert "unmarked text in title='Help'" in result.stderr


def test_templates_not_yet_listed_as_fully_marked_are_not_scanned(copy_of_gateway):
    other = copy_of_gateway / "services/gateway/templates/someone-elses/page.html"
    other.parent.mkdir()
    other.write_text('{% extends "base.html" %}{% block content %}<p>Not translated yet</p>{% endblock %}')
    assert run_check(copy_of_gateway).returncode == 0
    listed = copy_of_gateway / "services/gateway/i18n/fully_marked.txt"
    listed.write_text(listed.read_text() + "someone-elses/*.html\n")
    result = run_check(copy_of_gateway)
    assert result.returncode == 1 and "unmarked text 'Not translated yet'" in result.stderr


def test_a_stale_compiled_catalog_fails(copy_of_gateway):
    po = copy_of_gateway / "services/gateway/i18n/translations/pt_BR/LC_MESSAGES/messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Sair"', 'msgstr "Encerrar sessão"'), encoding="utf-8")
    result = run_check(copy_of_gateway)
    assert result.returncode == 1 and "pt_BR/LC_MESSAGES/messages.mo: stale" in result.stderr
    compiled = subprocess.run([sys.executable, str(REPO / "scripts" / "i18n.py"), "compile", "--root", str(copy_of_gateway)],
                              capture_output=True, text=True)
    assert compiled.returncode == 0 and run_check(copy_of_gateway).returncode == 0


def test_a_placeholder_lost_in_translation_fails(copy_of_gateway):
    po = copy_of_gateway / "services/gateway/i18n/translations/es_AR/LC_MESSAGES/messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Revisá el campo “%(field)s”."',
                                                         'msgstr "Revisá el campo."'), encoding="utf-8")
    result = run_check(copy_of_gateway)
    assert result.returncode == 1 and "must keep the placeholders field" in result.stderr
