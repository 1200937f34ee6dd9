"""User-facing texts of notifications and e-mails: English gettext messages, translated by the
notification service's catalogs (services/notification/i18n/translations/<ll_CC>/LC_MESSAGES/messages.po,
built and checked with scripts/i18n.py like the gateway's).

MESSAGES[kind][audience] = (title, body). A text is a message id with %(name)s variables: ref (short
complaint reference), company (trade name), deadline (local date, already formatted), days_left,
score. When the wording depends on the event (a company name or not, refusal upheld or not,
resolved or not, one day or several), the text is a Choice or a Plural between complete sentences:
translators always see whole sentences, never pieces.
"""
from dataclasses import dataclass
from pathlib import Path

from concilia.chassis import i18n

TRANSLATIONS_DIR = str(Path(__file__).resolve().parent / "i18n" / "translations")
LOCALES = i18n.CATALOG_LOCALES


def N_(message: str) -> str:
    """Marks a message for the catalogs (scripts/i18n.py extract); it is translated when rendered."""
    return message


@dataclass(frozen=True)
class Plural:
    """Singular or plural by the number in `count` (CLDR plural rules of each language)."""
    singular: str
    plural: str
    count: str = "days_left"


def N_plural(singular: str, plural: str) -> Plural:
    return Plural(singular, plural)


@dataclass(frozen=True)
class Choice:
    """`then` when the context's `field` equals `value` (or is truthy when value is None), else `otherwise`."""
    field: str
    then: str
    otherwise: str
    value: object = None

    def pick(self, context: dict) -> str:
        found = context.get(self.field)
        return self.then if (bool(found) if self.value is None else found == self.value) else self.otherwise


UPHELD = N_("The refusal was upheld and the complaint was cancelled.")

MESSAGES = {
    "complaint_filed": {
        "company": (N_("New complaint %(ref)s"),
                    N_("A new complaint was filed against your company. Answer by %(deadline)s.")),
        "consumer": (N_("Complaint %(ref)s filed"),
                     Choice("company",
                            N_("Your complaint against %(company)s was filed. The company has until %(deadline)s "
                               "to answer."),
                            N_("Your complaint was filed. The company has until %(deadline)s to answer."))),
    },
    "complaint_answered": {
        "consumer": (N_("The company answered complaint %(ref)s"),
                     Choice("company", N_("%(company)s answered. Please evaluate the answer by %(deadline)s."),
                            N_("The company answered. Please evaluate the answer by %(deadline)s."))),
    },
    "complaint_refused": {
        "consumer": (N_("Complaint %(ref)s refused by the company"),
                     N_("The company refused the complaint. A consumer-protection authority will review the "
                        "refusal.")),
        "authority": (N_("Refusal to review: complaint %(ref)s"),
                      N_("A company refused complaint %(ref)s. The refusal awaits your review.")),
    },
    "complaint_refusal_reviewed": {
        "consumer": (N_("Refusal reviewed: complaint %(ref)s"),
                     Choice("upheld", UPHELD,
                            N_("The refusal was rejected: the company must answer by %(deadline)s."))),
        "company": (N_("Refusal reviewed: complaint %(ref)s"),
                    Choice("upheld", UPHELD, N_("The refusal was rejected. Answer by %(deadline)s."))),
    },
    "complaint_unanswered": {
        "consumer": (N_("Complaint %(ref)s unanswered"),
                     N_("The company did not answer in time. You can evaluate the complaint by %(deadline)s.")),
        "company": (N_("Deadline missed: complaint %(ref)s"),
                    N_("The answer window of complaint %(ref)s closed without an answer.")),
    },
    "complaint_message_added": {
        "consumer": (N_("New message on complaint %(ref)s"), N_("There is a new message on your complaint.")),
        "company": (N_("New message on complaint %(ref)s"), N_("The consumer sent a new message.")),
    },
    "complaint_evaluated": {
        "company": (N_("Complaint %(ref)s evaluated"),
                    Choice("resolution",
                           N_("The consumer evaluated the answer: resolved, score %(score)s."),
                           N_("The consumer evaluated the answer: not resolved, score %(score)s."),
                           value="resolved")),
    },
    "complaint_finalised": {
        "consumer": (N_("Complaint %(ref)s finalised"), N_("The complaint was finalised.")),
        "company": (N_("Complaint %(ref)s finalised"), N_("The complaint was finalised.")),
    },
    "complaint_cancelled": {
        "consumer": (N_("Complaint %(ref)s cancelled"), N_("The complaint was cancelled.")),
        "company": (N_("Complaint %(ref)s cancelled"), N_("The complaint was cancelled.")),
    },
    "deadline_reminder": {
        "company": (N_("Deadline approaching: complaint %(ref)s"),
                    N_plural("%(days_left)s day left to answer complaint %(ref)s (until %(deadline)s).",
                             "%(days_left)s days left to answer complaint %(ref)s (until %(deadline)s).")),
        "consumer": (N_("Please evaluate complaint %(ref)s"),
                     N_plural("%(days_left)s day left to evaluate the company's answer (until %(deadline)s).",
                              "%(days_left)s days left to evaluate the company's answer (until %(deadline)s).")),
    },
}

# The e-mail around a notification's body.
GREETING = Choice("name", N_("Hello, %(name)s."), N_("Hello."))
EMAIL_FOOTER = N_("Concilia. You can change your e-mail preferences on the notifications page.")

# Every language has every message (the catalogs translate them); kept indexable by language.
TEXTS = {locale: {**MESSAGES, "_email": (GREETING, EMAIL_FOOTER)} for locale in LOCALES}


def _catalog(locale: str):
    return i18n.translations(TRANSLATIONS_DIR, locale)


def _translate(text, locale: str, context: dict) -> str:
    if isinstance(text, Choice):
        text = text.pick(context)
    if isinstance(text, Plural):
        translated = _catalog(locale).ngettext(text.singular, text.plural, int(context.get(text.count) or 0))
    else:
        translated = _catalog(locale).gettext(text)
    return (translated % context).strip()


def render(locale: str, kind: str, audience: str, **context) -> tuple[str, str]:
    """(title, body) of a notification in `locale` (one of LOCALES; English when it has no catalog)."""
    title, body = MESSAGES[kind][audience]
    return _translate(title, locale, context), _translate(body, locale, context)


def render_email(locale: str, body: str, name: str = "", link: str = "") -> str:
    """The plain-text e-mail: greeting, the notification's body, its link, the footer."""
    lines = [_translate(GREETING, locale, {"name": name}), "", body]
    if link:
        lines += ["", link]
    return "\n".join(lines + ["", "--", _translate(EMAIL_FOOTER, locale, {})])
