"""Languages and locale formatting shared by every process that shows text to people.

Catalogs are standard gettext (.po/.mo, built with Babel); which languages a deployment offers
and its default come from the country pack. Language tags are written as in the packs ("pt-BR",
"es-AR", "en"); Babel and gettext use the underscore form ("pt_BR"). A pack may format dates,
numbers and money with another locale than its language (Uruguay speaks es-AR but writes pesos
as es_UY does): `pack.format_locale`.
"""
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale, dates, numbers
from babel.support import NullTranslations, Translations

from .country import CountryPack

# The languages that have catalogs. A pack may offer only some of them.
CATALOG_LOCALES = ("pt-BR", "es-AR", "en")


def tag(code: str) -> str:
    """"pt_BR", "pt-br" -> "pt-BR"; "EN" -> "en"; "" -> ""."""
    parts = (code or "").strip().replace("_", "-").split("-")
    if not parts[0]:
        return ""
    return "-".join([parts[0].lower(), *(p.upper() for p in parts[1:2])])


def babel_name(code: str) -> str:
    """"pt-BR" -> "pt_BR": the form Babel and gettext folders use."""
    return tag(code).replace("-", "_")


def offered_locales(pack: CountryPack) -> list[str]:
    """The pack's languages that have catalogs, in the pack's order."""
    return [code for code in map(tag, pack.languages) if code in CATALOG_LOCALES]


def default_locale(pack: CountryPack) -> str:
    offered = offered_locales(pack)
    default = tag(pack.default_locale)
    return default if default in offered else (offered[0] if offered else "en")


def choose_locale(pack: CountryPack, *candidates: str) -> str:
    """The first candidate the deployment offers (exactly, else by language), else the pack's default."""
    offered = offered_locales(pack)
    for candidate in map(tag, candidates):
        if not candidate:
            continue
        if candidate in offered:
            return candidate
        for code in offered:
            if code.split("-")[0] == candidate.split("-")[0]:
                return code
    return default_locale(pack)


def format_locale(pack: CountryPack, locale: str) -> Locale:
    """Formatting conventions for a page in `locale`: the pack's own in its default language."""
    if tag(locale) == default_locale(pack):
        return Locale.parse(babel_name(pack.format_locale or pack.default_locale))
    return Locale.parse(babel_name(locale) or "en")


@lru_cache(maxsize=32)
def translations(directory: str, locale: str, domain: str = "messages") -> NullTranslations:
    """The compiled catalog <directory>/<ll_CC>/LC_MESSAGES/<domain>.mo (an empty one when missing)."""
    if not (Path(directory) / babel_name(locale) / "LC_MESSAGES" / f"{domain}.mo").exists():
        return NullTranslations()
    return Translations.load(directory, [babel_name(locale)], domain)


def _as_datetime(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # the platform stores UTC
    return value


def format_datetime(value, pack: CountryPack, locale: str, format: str = "medium") -> str:
    """A moment (datetime or ISO string, UTC when naive) in the pack's time zone."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    if not isinstance(moment, datetime):  # a plain date has no time zone
        return dates.format_date(moment, format=format, locale=format_locale(pack, locale))
    return dates.format_datetime(moment, format=format, tzinfo=pack.zone, locale=format_locale(pack, locale))


def format_date(value, pack: CountryPack, locale: str, format: str = "medium") -> str:
    """The local calendar day of a moment (or a date) in the pack's time zone."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    day = moment.astimezone(pack.zone).date() if isinstance(moment, datetime) else moment
    return dates.format_date(day, format=format, locale=format_locale(pack, locale))


def format_number(value, pack: CountryPack, locale: str, decimals: int | None = None) -> str:
    if value is None or value == "":
        return ""
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
        return numbers.format_decimal(value, format=pattern, locale=format_locale(pack, locale))
    return numbers.format_decimal(value, locale=format_locale(pack, locale))


def format_percent(value, pack: CountryPack, locale: str, decimals: int = 1) -> str:
    """A ratio (0.8 -> 80,0 %)."""
    if value is None or value == "":
        return ""
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + "%"
    return numbers.format_percent(value, format=pattern, locale=format_locale(pack, locale))


def format_currency(amount, pack: CountryPack, locale: str, currency: str | None = None) -> str:
    """An amount in the pack's currency unless another ISO 4217 code is given."""
    if amount is None or amount == "":
        return ""
    if isinstance(amount, float):
        amount = Decimal(str(amount))
    return numbers.format_currency(amount, currency or pack.currency, locale=format_locale(pack, locale))


__all__ = ["CATALOG_LOCALES", "babel_name", "choose_locale", "default_locale", "format_currency",
           "format_date", "format_datetime", "format_locale", "format_number", "format_percent",
           "offered_locales", "tag", "translations"]
