"""Every page, notification and e-mail in pt-BR, es-AR and en: the registry, notifications, public
and complaint templates rendered by the gateway's Jinja environment in each language, the
notification service's texts from its own catalog, and the check over both catalogs."""
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flask import render_template

from concilia.chassis.country import pack_from_env
from concilia.company_registry.v1 import company_registry_pb2 as rpb
from concilia.metrics.v1 import metrics_pb2 as mpb
from concilia.notification.v1 import notification_pb2 as npb
from services.notification import domain as notification_domain
from services.notification import messages

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "services" / "gateway" / "templates"
LATE_EVENING = datetime(2026, 3, 2, 2, 30, tzinfo=timezone.utc)  # still 1 March in São Paulo and Buenos Aires


@pytest.fixture
def app(monkeypatch):
    """The gateway application of a country (no service is called: templates get their data here)."""
    def make(country: str):
        from services.gateway.app import create_app
        monkeypatch.setenv("CONCILIA_COUNTRY", country)
        monkeypatch.setenv("IDENTITY_ADDR", "127.0.0.1:9")
        pack_from_env.cache_clear()
        return create_app()
    yield make
    pack_from_env.cache_clear()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ").replace("\u202f", " ")


# --- the gateway's pages -----------------------------------------------------------------------
def company_page(application, lang: str, status=rpb.COMPANY_STATUS_ACTIVE) -> str:
    from services.gateway.pages import registry
    company = rpb.Company(id="c1", tax_id="30500010912", legal_name="Banco Ejemplo S.A.", trade_name="Banco Ejemplo",
                          segment_code="bancos", status=status, status_reason="Abuso")
    company.created_at.FromDatetime(LATE_EVENING)
    with application.test_request_context(f"/companies/c1/profile?lang={lang}"):
        return render_template("registry/company.html", company=company, indicators_url="",
                               status=registry.STATUS_WORDS[status], segment_name="Bancos",
                               since=company.created_at.ToDatetime(tzinfo=timezone.utc), **registry.page_context())


@pytest.mark.parametrize("country,lang,words,since", [
    ("AR", "es-AR", ["Razón social", "Rubro", "Estado", "Adherida", "Todas las empresas"], "1 de marzo de 2026"),
    ("AR", "en", ["Legal name", "Market segment", "Status", "Participating", "All companies"], "March 1, 2026"),
    ("BR", "pt-BR", ["Razão social", "Segmento", "Situação", "Participante", "Todas as empresas"],
     "1 de março de 2026"),
])
def test_company_profile_in_each_language_with_the_local_date(app, country, lang, words, since):
    page = company_page(app(country), lang)
    assert f'<html lang="{lang}">' in page
    for word in words:
        assert word in page, word
    assert since in page  # the day in the pack's time zone, not the UTC day (2 March)


def test_a_suspended_company_shows_its_translated_status_and_the_reason(app):
    page = text_of(company_page(app("AR"), "es-AR", rpb.COMPANY_STATUS_SUSPENDED))
    assert "Estado Suspendida" in page and "Motivo Abuso" in page


def inbox_page(application, lang: str, unread: int) -> str:
    listing = npb.ListInboxResponse(unread_count=unread)
    item = listing.notifications.add(id="n1", kind="complaint_filed", title="T", body="B", read=False)
    item.created_at.FromDatetime(LATE_EVENING)
    prefs = npb.Preferences(email_enabled=True, locale="", muted_kinds=["deadline_reminder"])
    from services.gateway.pages import notifications
    with application.test_request_context(f"/notifications?lang={lang}"):
        return render_template("notifications/inbox.html", listing=listing, prefs=prefs,
                               kinds=notifications.KIND_NAMES.items(), languages=[("es-AR", "Español")],
                               unread_only=False, is_agent=True)


@pytest.mark.parametrize("lang,unread,shown", [
    ("es-AR", 1, ["Notificaciones", "(1 sin leer)", "Marcar como leída", "Aviso de plazo", "1/3/26, 11:30 p. m."]),
    ("es-AR", 2, ["(2 sin leer)", "Preferencias de correo electrónico", "Reclamo iniciado"]),
    ("en", 1, ["Notifications", "(1 unread)", "Mark as read", "Deadline reminder", "3/1/26, 11:30 PM"]),
])
def test_inbox_in_each_language_with_local_times_and_plural_counts(app, lang, unread, shown):
    page = text_of(inbox_page(app("AR"), lang, unread))
    for text in shown:
        assert text in page, text
    assert "UTC" not in page and "deadline_reminder " not in page  # kinds are named, not shown as codes


def test_brazilian_inbox_counts_in_portuguese_plurals(app):
    application = app("BR")
    assert "(1 não lida)" in text_of(inbox_page(application, "pt-BR", 1))
    assert "(3 não lidas)" in text_of(inbox_page(application, "pt-BR", 3))


def test_public_figures_use_the_locale_for_numbers_percentages_and_months(app):
    from services.gateway.pages import public
    figures = mpb.Indicators(complaints=1234, solution_index=0.7316, strict_solution_index=0.5, answered_share=0.9,
                             avg_answer_days=3.25, satisfaction=3.5, answered=10, evaluated=5, formula_version="v2")
    points = [mpb.TrendPoint(month="2026-02", indicators=figures), mpb.TrendPoint(month="2026-03", indicators=figures)]
    application = app("AR")
    shown = {}
    for lang in ("es-AR", "en"):
        with application.test_request_context(f"/companies/c1?lang={lang}"):
            shown[lang] = text_of(render_template(
                "public/company.html", name="Banco Ejemplo", segment_code="bancos", figures=figures, points=points,
                chart=public.trend_chart(points), period={}, month_start=public.month_start))
    assert "Reclamos finalizados 1.234" in shown["es-AR"] and "73,2%" in shown["es-AR"]
    assert "Banco Ejemplo: índice de solución por mes" in shown["es-AR"] and "feb 2026" in shown["es-AR"]
    assert "Finalised complaints 1,234" in shown["en"] and "73.2%" in shown["en"] and "Feb 2026" in shown["en"]
    assert "3,25" in shown["es-AR"] and "3.25" in shown["en"]


@pytest.mark.parametrize("minimum,lang,text", [
    (1, "es-AR", "Ninguna empresa llega a 1 reclamo finalizado en este período."),
    (10, "es-AR", "Ninguna empresa llega a 10 reclamos finalizados en este período."),
    (10, "en", "No company reaches 10 finalised complaints in this period."),
])
def test_ranking_sentences_agree_with_their_number(app, minimum, lang, text):
    application = app("AR")
    with application.test_request_context(f"/rankings/bancos?lang={lang}"):
        page = render_template("public/ranking.html", segment_name="Bancos", entries=[], min_complaints=minimum,
                               period={})
    assert text in text_of(page)


def test_every_template_is_listed_as_fully_marked():
    """Each template folder joins fully_marked.txt once marked; by now all of them have."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import i18n as script
    finally:
        sys.path.remove(str(REPO / "scripts"))
    listed = {path.relative_to(TEMPLATES).as_posix()
              for path in script._fully_marked_templates(script.Paths(REPO, "gateway"))}
    assert listed == {path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.html")}


# --- notifications and e-mails -----------------------------------------------------------------
CONTEXT = dict(ref="abcd1234", company="Loja Exemplo", deadline="14/03/2024", days_left=2, upheld=False,
               resolution="resolved", score=4)


@pytest.mark.parametrize("locale", ["pt-BR", "es-AR"])
def test_every_notification_is_translated_from_the_catalog(locale):
    for kind, audiences in messages.MESSAGES.items():
        for audience in audiences:
            title, body = messages.render(locale, kind, audience, **CONTEXT)
            english = messages.render("en", kind, audience, **CONTEXT)
            assert (title, body) != english and "%(" not in title + body, (locale, kind, audience)
            assert "abcd1234" in title or "abcd1234" in body or kind in ("complaint_message_added",), (kind, audience)


def test_messages_cover_every_event_kind():
    assert set(messages.MESSAGES) == set(notification_domain.KINDS)


@pytest.mark.parametrize("locale,days,text", [
    ("pt-BR", 1, "Falta 1 dia para responder à reclamação abcd1234 (até 14/03/2024)."),
    ("pt-BR", 3, "Faltam 3 dias para responder à reclamação abcd1234 (até 14/03/2024)."),
    ("es-AR", 1, "Queda 1 día para responder el reclamo abcd1234 (hasta el 14/03/2024)."),
    ("es-AR", 3, "Quedan 3 días para responder el reclamo abcd1234 (hasta el 14/03/2024)."),
    ("en", 1, "1 day left to answer complaint abcd1234 (until 14/03/2024)."),
    ("en", 3, "3 days left to answer complaint abcd1234 (until 14/03/2024)."),
])
def test_reminders_agree_with_the_number_of_days(locale, days, text):
    assert messages.render(locale, "deadline_reminder", "company", **{**CONTEXT, "days_left": days})[1] == text


def test_whole_sentences_are_chosen_by_the_event():
    with_company = messages.render("es-AR", "complaint_filed", "consumer", **CONTEXT)[1]
    without = messages.render("es-AR", "complaint_filed", "consumer", **{**CONTEXT, "company": ""})[1]
    assert with_company == ("Tu reclamo contra Loja Exemplo fue iniciado. "
                            "La empresa tiene hasta el 14/03/2024 para responder.")
    assert without == "Tu reclamo fue iniciado. La empresa tiene hasta el 14/03/2024 para responder."
    upheld = messages.render("pt-BR", "complaint_refusal_reviewed", "company", **{**CONTEXT, "upheld": True})[1]
    rejected = messages.render("pt-BR", "complaint_refusal_reviewed", "company", **CONTEXT)[1]
    assert upheld == "A recusa foi aceita e a reclamação foi cancelada."
    assert rejected == "A recusa não foi aceita. Responda até 14/03/2024."
    assert messages.render("en", "complaint_evaluated", "company", **{**CONTEXT, "resolution": "not_resolved"})[1] \
        == "The consumer evaluated the answer: not resolved, score 4."


def test_emails_greet_and_sign_in_the_recipients_language():
    email = messages.render_email("es-AR", "Cuerpo.", name="Ana", link="https://concilia.example/complaints/1")
    assert email == ("Hola, Ana.\n\nCuerpo.\n\nhttps://concilia.example/complaints/1\n\n--\n"
                     "Concilia. Podés cambiar tus preferencias de correo en la página de notificaciones.")
    assert messages.render_email("pt-BR", "Corpo.").startswith("Olá.\n\nCorpo.\n\n--\nConcilia. Você pode")


# --- the check covers the notification catalog --------------------------------------------------
def run_script(command: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "i18n.py"), command, "--root", str(root)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def scratch(tmp_path):
    for service in ("gateway", "notification"):
        shutil.copytree(REPO / "services" / service, tmp_path / "services" / service,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_new_notification_text_without_translations_fails_the_check(scratch):
    module = scratch / "services/notification/messages.py"
    module.write_text(module.read_text(encoding="utf-8").replace(
        'EMAIL_FOOTER = N_(', 'SIGNATURE = N_("Sent by Concilia.")\nEMAIL_FOOTER = N_('), encoding="utf-8")
    result = run_script("check", scratch)
    assert result.returncode == 1
    for locale in ("pt_BR", "es_AR", "en"):
        assert (f"services/notification/i18n/translations/{locale}/LC_MESSAGES/messages.po: "
                f"no translation for 'Sent by Concilia.'") in result.stderr
    assert "i18n check (gateway): every marked string translated" in result.stdout
    # The translator's loop: extract and update bring it into the catalogs (English filled in).
    assert run_script("extract", scratch).returncode == 0 and run_script("update", scratch).returncode == 0
    result = run_script("check", scratch)
    assert "en/LC_MESSAGES/messages.po: no translation" not in result.stderr
    assert "pt_BR/LC_MESSAGES/messages.po: no translation for 'Sent by Concilia.'" in result.stderr


def test_a_plural_form_left_empty_fails_the_check(scratch):
    po = scratch / "services/notification/i18n/translations/pt_BR/LC_MESSAGES/messages.po"
    text = po.read_text(encoding="utf-8")
    assert 'msgstr[1] "Faltam %(days_left)s dias para responder' in text
    po.write_text(re.sub(r'msgstr\[1\] "Faltam %\(days_left\)s dias para responder[^"]*"', 'msgstr[1] ""', text),
                  encoding="utf-8")
    result = run_script("check", scratch)
    assert result.returncode == 1 and "no translation for '%(days_left)s day left to answer" in result.stderr


def test_a_missing_notification_catalog_fails_the_check(scratch):
    shutil.rmtree(scratch / "services/notification/i18n")
    result = run_script("check", scratch)
    assert result.returncode == 1 and "services/notification/i18n/babel.cfg: missing" in result.stderr


# --- the complaint pages -------------------------------------------------------------------------
def test_complaint_page_names_statuses_actions_reasons_and_roles_in_the_page_language(app):
    from concilia.complaint.v1 import complaint_pb2 as cpb
    from services.gateway.pages import complaints
    complaint = cpb.Complaint(id="k1", company_name="Banco Ejemplo", status=cpb.COMPLAINT_STATUS_UNDER_REFUSAL_REVIEW,
                              refusal_reason="not_customer", refusal_text="No figura", description="d")
    complaint.filed_at.FromDatetime(LATE_EVENING)
    complaint.attachments.add(id="a1", file_name="recibo.pdf", size_bytes=2560, sha256="ab" * 32)
    message = complaint.messages.add(author_role="company_agent", text="Hola")
    message.sent_at.FromDatetime(LATE_EVENING)
    entry = cpb.HistoryEntry(action="refused", actor_role="company_agent")
    entry.at.FromDatetime(LATE_EVENING)
    lapsed = cpb.HistoryEntry(action="answer_deadline_lapsed", actor_role="system")
    application = app("AR")
    shown = {}
    for lang in ("es-AR", "en"):
        with application.test_request_context(f"/complaints/k1?lang={lang}"):
            context = {**complaints.page_context(), "user": None}
            shown[lang] = render_template("complaints/detail.html", c=complaint, history=[entry, lapsed],
                                          refusal_reasons=("not_customer",), **context)
    es, en = text_of(shown["es-AR"]), text_of(shown["en"])
    assert "Estado: Rechazo en revisión" in es and "Rechazar: No es cliente nuestro — No figura" in es
    assert "Iniciado el: 1/3/26, 11:30 p. m." in es  # local time of the pack, the page's format
    assert "Rechazado por la empresa · representante de la empresa" in es
    assert "Venció el plazo de respuesta · la plataforma" in es
    assert "2,5 KB, huella digital abababababab…" in es
    assert 'data-action="refused"' in shown["es-AR"] and 'data-reason="not_customer"' in shown["es-AR"]
    assert "Status: Refusal under review" in en and "Refused by the company · company agent" in en
    assert "2.5 KB, fingerprint abababababab…" in en


@pytest.mark.parametrize("country,label", [
    ("BR", "Estado (ex.: BR-SP)"),
    ("AR", "Provincia o departamento (ej.: AR-C)"),
])
def test_the_region_hint_comes_from_the_pack(app, country, label):
    from services.gateway.pages import complaints
    application = app(country)
    with application.test_request_context("/complaints/new"):
        page = render_template("complaints/new.html", company=rpb.Company(id="c1", trade_name="X"), paths=[],
                               error=None, form={}, **{**complaints.page_context(), "user": None})
    assert f'<label for="region_code">{label}</label>' in page
