"""The page language: gettext catalogs in Flask and Jinja, locale formatting filters, and the
translated text of errors.

The language of a request is the user's choice (`?lang=` sets the `lang` cookie; the cookie is
remembered), else the country pack's default; only the pack's languages are offered. Catalogs live
in services/gateway/i18n/translations (scripts/i18n.py extracts, updates, compiles and checks them).

Services answer with English messages. The gateway translates by error *code* and *field*
(ERROR_TEXT, FIELD_TEXT below) and shows the service's own message only as a detail when it has
no specific translation for it. The JSON API keeps `error.message` as the service wrote it (clients
match on `code`) and adds `error.localized_message`.

`init_app(app)` installs all this; the app factory calls it.
"""
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from babel.support import LazyProxy
from flask import current_app, g, has_request_context, request

from concilia.chassis import i18n

TRANSLATIONS_DIR = str(Path(__file__).resolve().parent / "i18n" / "translations")
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Names of the languages, each written in itself (never translated).
LANGUAGE_NAMES = {"pt-BR": "Português (Brasil)", "es-AR": "Español", "en": "English"}


def current_locale() -> str:
    """The language of the current request (the pack's default outside a request)."""
    pack = current_app.extensions["concilia"].pack
    if not has_request_context():
        return i18n.default_locale(pack)
    if "locale" not in g:
        g.locale = i18n.choose_locale(pack, request.args.get(COOKIE, ""), request.cookies.get(COOKIE, ""))
    return g.locale


def _catalog():
    return i18n.translations(TRANSLATIONS_DIR, current_locale())


def gettext(message: str, **variables) -> str:
    text = _catalog().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables) -> str:
    variables.setdefault("num", n)
    return _catalog().ngettext(singular, plural, n) % variables


def lazy_gettext(message: str, **variables) -> LazyProxy:
    """For module-level texts: translated when shown, in the language of that request."""
    return LazyProxy(gettext, message, enable_cache=False, **variables)


_ = gettext
_l = lazy_gettext


# --- errors ------------------------------------------------------------------------------------
ERROR_TEXT = {
    "INVALID_ARGUMENT": _l("Please check the information you entered."),
    "OUT_OF_RANGE": _l("Please check the information you entered."),
    "ALREADY_EXISTS": _l("This already exists."),
    "FAILED_PRECONDITION": _l("This cannot be done in the current state."),
    "ABORTED": _l("Someone changed this at the same time; please reload and try again."),
    "PERMISSION_DENIED": _l("You are not allowed to do this."),
    "UNAUTHENTICATED": _l("Please sign in to continue."),
    "NOT_FOUND": _l("The page or item you asked for does not exist."),
    "METHOD_NOT_ALLOWED": _l("This action is not allowed here."),
    "PAYLOAD_TOO_LARGE": _l("What you sent is too large."),
    "RESOURCE_EXHAUSTED": _l("Too many attempts; please wait a moment and try again."),
    "UNAVAILABLE": _l("A service is temporarily unavailable; please try again."),
    "DEADLINE_EXCEEDED": _l("A service is temporarily unavailable; please try again."),
    "UNIMPLEMENTED": _l("This feature is not available."),
    "INTERNAL": _l("Something went wrong on our side; please try again later."),
    "CSRF_TOKEN_INVALID": _l("This form has expired or was not sent from this site; "
                             "go back, reload the page and try again."),
}
# (code, field) -> a complete translated text: the common cases people meet on the forms.
FIELD_TEXT = {
    ("INVALID_ARGUMENT", "email"): _l("Enter a valid e-mail address."),
    ("INVALID_ARGUMENT", "password"): _l("The password must have between 10 and 128 characters."),
    ("INVALID_ARGUMENT", "national_id"): _l("This ID number is not valid; check the digits."),
    ("INVALID_ARGUMENT", "tax_id"): _l("This company ID number is not valid; check the digits."),
    ("INVALID_ARGUMENT", "name"): _l("Enter a name of at most 120 characters."),
    ("ALREADY_EXISTS", "email"): _l("An account with this e-mail already exists."),
    ("ALREADY_EXISTS", "national_id"): _l("An account with this ID number already exists."),
    ("UNAUTHENTICATED", ""): _l("Wrong e-mail or password, or your session has expired."),
}
# Field names as people read them, for "Please check the field ..." when there is no FIELD_TEXT.
FIELD_LABELS = {
    "email": _l("E-mail"), "password": _l("Password"), "name": _l("Name"), "national_id": _l("ID number"),
    "tax_id": _l("Company ID number"), "description": _l("Description"), "message": _l("Message"),
    "city": _l("City"), "region_code": _l("State or province"), "segment_code": _l("Segment"),
    "score": _l("Score"), "reason": _l("Reason"), "attachment": _l("Attachment"),
}

ROLE_NAMES = {
    "consumer": _l("consumer"), "company_agent": _l("company agent"), "manager": _l("manager"),
    "monitor": _l("monitor"), "admin": _l("administrator"),
}


@dataclass(frozen=True)
class ErrorText:
    message: str  # translated
    detail: str   # the service's own (English) message when nothing more specific was translated


def error_text(error) -> ErrorText:
    """The text to show for a gateway ApiError (status, code, message, field) in the page language."""
    code, field = getattr(error, "code", "INTERNAL"), getattr(error, "field", "") or ""
    specific = FIELD_TEXT.get((code, field))
    if specific is not None:
        return ErrorText(str(specific), "")
    detail = "" if getattr(error, "status", 500) >= 500 else (getattr(error, "message", "") or "")
    if field and field in FIELD_LABELS and code in ("INVALID_ARGUMENT", "ALREADY_EXISTS", "OUT_OF_RANGE"):
        return ErrorText(gettext("Please check the field “%(field)s”.", field=str(FIELD_LABELS[field])), detail)
    generic = ERROR_TEXT.get(code, ERROR_TEXT["INTERNAL"])
    return ErrorText(str(generic), "" if detail.lower() == code.lower() else detail)


# --- Flask and Jinja ---------------------------------------------------------------------------
def _pack():
    return current_app.extensions["concilia"].pack


def _language_links() -> list[dict]:
    """One link per offered language: the same page with ?lang=<code>."""
    links = []
    for code in i18n.offered_locales(_pack()):
        args = request.args.to_dict()
        args[COOKIE] = code
        links.append({"code": code, "name": LANGUAGE_NAMES.get(code, code), "url": f"{request.path}?{urlencode(args)}",
                      "current": code == current_locale()})
    return links


def _remember_choice(response):
    chosen = request.args.get(COOKIE)
    if chosen and i18n.tag(chosen) in i18n.offered_locales(_pack()) and request.cookies.get(COOKIE) != current_locale():
        response.set_cookie(COOKIE, current_locale(), max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                            secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


def init_app(app) -> None:
    """Installs gettext in Jinja, the formatting filters and the language hooks (once per app)."""
    if app.extensions.get("concilia_locale"):
        return
    app.extensions["concilia_locale"] = True
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")
    # Jinja's new-style gettext fills the %(name)s variables itself, so it gets the bare lookups.
    env.install_gettext_callables(lambda message: _catalog().gettext(message),
                                  lambda singular, plural, n: _catalog().ngettext(singular, plural, n), newstyle=True)

    def fmt(function):
        return lambda value, *args, **kwargs: function(value, _pack(), current_locale(), *args, **kwargs)

    env.filters.update(
        format_datetime=fmt(i18n.format_datetime), format_date=fmt(i18n.format_date),
        format_number=fmt(i18n.format_number), format_percent=fmt(i18n.format_percent),
        format_currency=fmt(i18n.format_currency))
    env.globals.update(error_text=error_text, role_names=ROLE_NAMES)

    @app.context_processor
    def _page_language():
        if not has_request_context():
            return {}
        return {"page_lang": current_locale(), "current_locale": current_locale(), "language_links": _language_links()}

    app.after_request(_remember_choice)
