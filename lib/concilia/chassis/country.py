"""Country packs: everything that differs by country, as data (countries/<code>/pack.yaml).

A pack is loaded once at start-up and validated; every error names the file and the line. The
deployment picks its pack with CONCILIA_COUNTRY (BR, AR, ...) and may point
CONCILIA_COUNTRY_PACKS_DIR at its own folder of packs.
"""
import csv
import os
import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, time as dtime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from .errors import InvalidArgument

DEFAULT_PACKS_DIR = Path(__file__).resolve().parents[3] / "countries"


class PackError(Exception):
    """A country pack is invalid; the message names the file and line."""


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping key so validation errors can point at it."""


def _construct_mapping(loader, node):
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.lines = {key_node.value: key_node.start_mark.line + 1 for key_node, _ in node.value}
    mapping.line = node.start_mark.line + 1
    return mapping


class _LineDict(dict):
    lines: dict
    line: int = 0


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# National ID schemes: name -> (compact, is_valid, human label). python-stdnum has the check digits.
def _stdnum(module_name: str):
    import importlib
    module = importlib.import_module(f"stdnum.{module_name}")
    return module.compact, module.is_valid


def _uy_ci_is_valid(number: str) -> bool:
    # Uruguay's cédula de identidad: up to 7 digits + check digit, weights 2987634 (stdnum has no
    # module). Written as 1.234.567-2, 1234567-2 or 12345672; nothing but digits, dots, hyphens, spaces.
    if not re.fullmatch(r"[\d.\- ]+", number.strip()):
        return False
    digits = re.sub(r"\D", "", number)
    if not 7 <= len(digits) <= 8:
        return False
    digits = digits.zfill(8)
    total = sum(int(d) * w for d, w in zip(digits[:7], (2, 9, 8, 7, 6, 3, 4)))
    return (10 - total % 10) % 10 == int(digits[7])


ID_SCHEMES = {
    "br.cpf": lambda: _stdnum("br.cpf"),
    "br.cnpj": lambda: _stdnum("br.cnpj"),
    "ar.dni": lambda: _stdnum("ar.dni"),
    "ar.cuit": lambda: _stdnum("ar.cuit"),
    "uy.rut": lambda: _stdnum("uy.rut"),
    "uy.ci": lambda: (lambda n: re.sub(r"\D", "", n).zfill(8), _uy_ci_is_valid),
}


@dataclass(frozen=True)
class IdScheme:
    names: tuple[str, ...]
    label: str

    def normalise(self, field_name: str, value: str) -> str:
        """The compact form of a valid ID under any of the pack's schemes, else InvalidArgument."""
        value = (value or "").strip()
        if not value:
            raise InvalidArgument(field_name, f"{self.label} is required")
        if len(value) > 32:
            raise InvalidArgument(field_name, f"{self.label} is too long")
        for name in self.names:
            compact, is_valid = ID_SCHEMES[name]()
            if is_valid(value):
                return compact(value)
        raise InvalidArgument(field_name, f"not a valid {self.label} (check digits or format)")


@dataclass(frozen=True)
class Windows:
    company_answer_days: int
    consumer_evaluation_days: int
    reminder_days_before: int
    day_count: str  # "calendar" or "business"


@dataclass(frozen=True)
class Retention:
    """How long personal data is kept once it has served, in days (None: until erased on request).
    Past it, the complaint worker empties a closed complaint's texts and attachments, and each
    service prunes its access_log and the notification service its inbox and sent e-mails
    (docs/adr/0021-retention.md)."""
    closed_complaint_days: int | None = None  # after finalisation or cancellation
    access_log_days: int | None = None        # who read whose data
    notification_days: int | None = None      # inbox notifications and sent e-mails


@dataclass(frozen=True)
class Authority:
    id: str
    name: str
    jurisdiction: str
    regions: tuple[str, ...] = ()
    # A municipal office (AR: an OMIC) is competent only for these municipalities of its regions.
    municipalities: tuple[str, ...] = ()


ROUTING_LEVELS = ("national", "region", "municipality")
HEARING_OUTCOMES = ("agreement", "no_agreement", "no_show")
FACT_TYPES = {"segment": ("in", "not_in"), "number": ("gte", "gt", "lte", "lt"),
              "money": ("gte", "gt", "lte", "lt"), "flag": ("is",)}


@dataclass(frozen=True)
class Condition:
    fact: str
    op: str
    value: object

    def holds(self, facts: dict) -> bool:
        if self.fact not in facts or facts[self.fact] is None:
            return False  # an unknown fact never makes adhesion mandatory
        actual = facts[self.fact]
        return {
            "in": lambda: actual in self.value, "not_in": lambda: actual not in self.value,
            "gte": lambda: actual >= self.value, "gt": lambda: actual > self.value,
            "lte": lambda: actual <= self.value, "lt": lambda: actual < self.value,
            "is": lambda: actual is self.value,
        }[self.op]()


@dataclass(frozen=True)
class AdhesionRule:
    """One criterion that makes a company's adhesion mandatory (managers may waive it per company)."""
    id: str
    description: str
    conditions: tuple[Condition, ...]
    match: str = "all"  # "all" conditions or "any" of them
    source: str = ""

    def applies(self, facts: dict) -> bool:
        results = (condition.holds(facts) for condition in self.conditions)
        return all(results) if self.match == "all" else any(results)


@dataclass(frozen=True)
class CountryPack:
    code: str
    name: str
    version: str
    languages: tuple[str, ...]
    default_locale: str
    time_zone: str
    currency: str
    person_id: IdScheme
    company_id: IdScheme
    windows: Windows
    holidays: frozenset[date]
    authorities: tuple[Authority, ...]
    formula_version: str
    refusal_reasons: tuple[str, ...]
    hearing: dict
    limits: dict
    folder: Path
    taxonomy_file: Path
    extra: dict = field(default_factory=dict)
    # Added with issue 6; defaults keep older callers working.
    format_locale: str = ""                          # dates/numbers/currency (e.g. es_UY); else default_locale
    published_formulas: tuple[str, ...] = ()         # formula_version first, then the others published
    company_facts: dict = field(default_factory=dict)  # fact name -> segment | number | money | flag
    adhesion_rules: tuple[AdhesionRule, ...] = ()
    routing: str = "region"                          # national | region | municipality
    retention: Retention = field(default_factory=Retention)
    segment_codes: frozenset[str] = frozenset()      # the taxonomy's market segment codes

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def add_days(self, start: datetime, days: int) -> datetime:
        """Deadline `days` after `start`, counted as the pack says, ending at local midnight.

        Calendar: the end of the local day `days` days later. Business: the end of the `days`-th
        business day after the start day (weekends and pack holidays skipped).
        """
        return self._add(start, days, business=self.windows.day_count == "business")

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """Like add_days but always in business days (hearings are scheduled in business days)."""
        return self._add(start, days, business=True)

    def _add(self, start: datetime, days: int, business: bool) -> datetime:
        local = start.astimezone(self.zone)
        day = local.date()
        if business:
            counted = 0
            while counted < days:
                day += timedelta(days=1)
                if self.is_business_day(day):
                    counted += 1
        else:
            day += timedelta(days=days)
        end_of_day = datetime.combine(day + timedelta(days=1), dtime(0, 0), tzinfo=self.zone)
        return end_of_day.astimezone(ZoneInfo("UTC"))

    def authority_for(self, region_code: str, municipality: str = "") -> Authority | None:
        """The most specific competent authority: the municipal office of (region, municipality),
        else the one whose regions include region_code, else the national one."""
        region = (region_code or "").strip().upper()
        town = _fold(municipality)
        national = regional = None
        for authority in self.authorities:
            if region and region in authority.regions:
                if not authority.municipalities:
                    regional = regional or authority
                elif town and town in {_fold(m) for m in authority.municipalities}:
                    return authority
            if authority.jurisdiction == self.code:
                national = national or authority
        return regional or national

    def route(self, region_code: str, municipality: str = "") -> Authority | None:
        """The authority a new complaint goes to, at the depth the pack's `routing.by` says."""
        if self.routing == "national":
            return self.authority_for("")
        return self.authority_for(region_code, municipality if self.routing == "municipality" else "")

    @property
    def hearing_enabled(self) -> bool:
        return bool(self.hearing.get("enabled"))


def _fold(text: str) -> str:
    """Lower case without accents or extra spaces: how municipality names are compared."""
    import unicodedata
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", text).strip().lower()


def mandatory_adhesion_reasons(pack: CountryPack, company_facts: dict) -> list[str]:
    """The ids of the pack's adhesion rules that make this company's adhesion mandatory (pack order).

    company_facts maps the pack's declared `company_facts` to values; a missing fact never
    triggers a rule. Undeclared facts or values of the wrong type are InvalidArgument (naming
    `company_facts.<fact>`). Manager waivers are applied by the caller (the registry).
    """
    facts = {}
    for name, value in (company_facts or {}).items():
        kind = pack.company_facts.get(name)
        if kind is None:
            raise InvalidArgument(f"company_facts.{name}", f"unknown fact (the {pack.code} pack declares: "
                                  f"{', '.join(sorted(pack.company_facts)) or 'none'})")
        if value is not None and not _fact_value_ok(kind, value):
            raise InvalidArgument(f"company_facts.{name}", f"must be a {kind} value")
        facts[name] = value
    return [rule.id for rule in pack.adhesion_rules if rule.applies(facts)]


def _fact_value_ok(kind: str, value) -> bool:
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "segment":
        return isinstance(value, str)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _require(mapping, key, kind, path: Path, where: str = ""):
    if not isinstance(mapping, dict) or key not in mapping:
        line = getattr(mapping, "line", 0)
        raise PackError(f"{path}:{line}: missing key '{where}{key}'")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        line = getattr(mapping, "lines", {}).get(key, 0)
        raise PackError(f"{path}:{line}: '{where}{key}' must be {getattr(kind, '__name__', kind)}")
    return value


def _line(mapping, key) -> int:
    return getattr(mapping, "lines", {}).get(key, getattr(mapping, "line", 0))


def load_pack(code: str, packs_dir: str | Path | None = None) -> CountryPack:
    packs_dir = Path(packs_dir or os.environ.get("CONCILIA_COUNTRY_PACKS_DIR") or DEFAULT_PACKS_DIR)
    folder = packs_dir / code.lower()
    path = folder / "pack.yaml"
    if not path.exists():
        known = sorted(p.name.upper() for p in packs_dir.glob("*/pack.yaml") for p in [p.parent])
        raise PackError(f"no country pack for {code!r} in {packs_dir} (available: {', '.join(known) or 'none'})")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise PackError(f"{path}:{mark.line + 1 if mark else 0}: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise PackError(f"{path}:1: a pack is a mapping")
    if str(_require(raw, "code", str, path)).upper() != code.upper():
        raise PackError(f"{path}:{_line(raw, 'code')}: code {raw['code']!r} does not match folder {folder.name!r}")

    def scheme(key: str) -> IdScheme:
        spec = _require(raw, key, dict, path)
        names = spec.get("schemes")
        if not isinstance(names, list) or not names:
            raise PackError(f"{path}:{_line(spec, 'schemes')}: '{key}.schemes' must be a non-empty list")
        for name in names:
            if name not in ID_SCHEMES:
                raise PackError(f"{path}:{_line(spec, 'schemes')}: unknown ID scheme {name!r} "
                                f"(known: {', '.join(sorted(ID_SCHEMES))})")
        return IdScheme(tuple(names), str(_require(spec, "label", str, path, f"{key}.")))

    windows_raw = _require(raw, "windows", dict, path)
    windows = Windows(
        company_answer_days=_require(windows_raw, "company_answer_days", int, path, "windows."),
        consumer_evaluation_days=_require(windows_raw, "consumer_evaluation_days", int, path, "windows."),
        reminder_days_before=_require(windows_raw, "reminder_days_before", int, path, "windows."),
        day_count=_require(windows_raw, "day_count", str, path, "windows."))
    if windows.day_count not in ("calendar", "business"):
        raise PackError(f"{path}:{_line(windows_raw, 'day_count')}: windows.day_count must be calendar or business")
    for key in ("company_answer_days", "consumer_evaluation_days"):
        if getattr(windows, key) <= 0:
            raise PackError(f"{path}:{_line(windows_raw, key)}: windows.{key} must be positive")

    time_zone = _require(raw, "time_zone", str, path)
    try:
        ZoneInfo(time_zone)
    except Exception:  # noqa: BLE001
        raise PackError(f"{path}:{_line(raw, 'time_zone')}: unknown time zone {time_zone!r}") from None

    holidays = set()
    holidays_file = raw.get("holidays_file")
    if holidays_file:
        holidays_path = folder / holidays_file
        if not holidays_path.exists():
            raise PackError(f"{path}:{_line(raw, 'holidays_file')}: {holidays_path} does not exist")
        with holidays_path.open(encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    holidays.add(date.fromisoformat(row["date"]))
                except (KeyError, TypeError, ValueError):
                    raise PackError(f"{holidays_path}:{number}: expected a date column as YYYY-MM-DD") from None

    code = raw["code"].upper()
    authorities = _authorities(raw, code, path)
    taxonomy_file = folder / _require(raw, "taxonomy_file", str, path)
    if not taxonomy_file.exists():
        raise PackError(f"{path}:{_line(raw, 'taxonomy_file')}: {taxonomy_file} does not exist")
    known = {"code", "name", "pack_version", "languages", "default_locale", "format_locale", "time_zone",
             "currency", "person_id", "company_id", "windows", "holidays_file", "authorities", "indicators",
             "refusal_reasons", "hearing", "limits", "taxonomy_file", "company_facts", "adhesion_rules",
             "routing", "retention"}
    for key in raw:
        if key not in known:
            raise PackError(f"{path}:{_line(raw, key)}: unknown key {key!r}")
    languages, default_locale, format_locale = _languages(raw, path)
    currency = _require(raw, "currency", str, path)
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise PackError(f"{path}:{_line(raw, 'currency')}: currency must be an ISO 4217 code such as BRL")
    company_facts = _company_facts(raw, path)
    segments = _segment_codes(taxonomy_file)
    return CountryPack(
        code=code, name=_require(raw, "name", str, path),
        version=str(_require(raw, "pack_version", (str, int), path)),
        languages=languages, default_locale=default_locale, time_zone=time_zone,
        currency=currency, person_id=scheme("person_id"),
        company_id=scheme("company_id"), windows=windows, holidays=frozenset(holidays),
        authorities=authorities,
        formula_version=str(_require(_require(raw, "indicators", dict, path), "formula_version", str, path, "indicators.")),
        refusal_reasons=tuple(_require(raw, "refusal_reasons", list, path)),
        hearing=_hearing(raw, path), limits=dict(raw.get("limits") or {}),
        folder=folder, taxonomy_file=taxonomy_file,
        extra={k: raw[k] for k in ("adhesion_rules", "routing") if k in raw},
        format_locale=format_locale, published_formulas=_formulas(raw, path),
        company_facts=company_facts,
        adhesion_rules=_adhesion_rules(raw, company_facts, segments, path),
        routing=_routing(raw, path), retention=_retention(raw, path), segment_codes=segments)


def _authorities(raw, code: str, path: Path) -> tuple[Authority, ...]:
    """Exactly one national authority; regional ones cover ISO 3166-2 subdivisions of the country."""
    authorities, seen = [], set()
    entries = _require(raw, "authorities", list, path)
    for entry in entries:
        if not isinstance(entry, dict):
            raise PackError(f"{path}:{_line(raw, 'authorities')}: each authority is a mapping")
        authority = Authority(
            id=_require(entry, "id", str, path, "authorities[]."), name=_require(entry, "name", str, path, "authorities[]."),
            jurisdiction=_require(entry, "jurisdiction", str, path, "authorities[]."),
            regions=tuple(str(r).upper() for r in entry.get("regions", [])),
            municipalities=tuple(str(m) for m in entry.get("municipalities", [])))
        if authority.id in seen:
            raise PackError(f"{path}:{_line(entry, 'id')}: authority id {authority.id!r} is used twice")
        seen.add(authority.id)
        if authority.jurisdiction != code and not authority.jurisdiction.startswith(code + "-"):
            raise PackError(f"{path}:{_line(entry, 'jurisdiction')}: jurisdiction must be {code} or {code}-<subdivision>")
        for region in authority.regions:
            if not re.fullmatch(rf"{code}-[A-Z0-9]{{1,3}}", region):
                raise PackError(f"{path}:{_line(entry, 'regions')}: region {region!r} is not an ISO 3166-2 code of {code}")
        if authority.municipalities and not authority.regions:
            raise PackError(f"{path}:{_line(entry, 'municipalities')}: a municipal authority needs the regions it lies in")
        authorities.append(authority)
    national = [a for a in authorities if a.jurisdiction == code]
    if len(national) != 1:
        raise PackError(f"{path}:{_line(raw, 'authorities')}: exactly one authority must have jurisdiction {code} "
                        f"(found {len(national)})")
    return tuple(authorities)


def _languages(raw, path: Path) -> tuple[tuple[str, ...], str, str]:
    """languages as written (pt-BR), the default locale and the formatting locale, all known to Babel."""
    from babel import Locale, UnknownLocaleError

    def parse(value, key) -> Locale:
        try:
            return Locale.parse(str(value).replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            raise PackError(f"{path}:{_line(raw, key)}: unknown locale {value!r} in '{key}'") from None

    languages = tuple(_require(raw, "languages", list, path))
    if not languages:
        raise PackError(f"{path}:{_line(raw, 'languages')}: 'languages' must not be empty")
    offered = {str(parse(language, "languages")) for language in languages}
    default_locale = _require(raw, "default_locale", str, path)
    if str(parse(default_locale, "default_locale")) not in offered:
        raise PackError(f"{path}:{_line(raw, 'default_locale')}: default_locale {default_locale!r} is not one of "
                        f"the pack's languages")
    format_locale = str(raw.get("format_locale") or default_locale)
    parse(format_locale, "format_locale")
    return languages, default_locale, format_locale


def _formulas(raw, path: Path) -> tuple[str, ...]:
    """formula_version, then indicators.also_published; every id must be a registered formula."""
    from concilia.opendata.indicators import FORMULAS
    indicators = raw["indicators"]
    also = indicators.get("also_published", [])
    if not isinstance(also, list):
        raise PackError(f"{path}:{_line(indicators, 'also_published')}: 'indicators.also_published' must be a list")
    versions = (indicators["formula_version"], *also)
    for version in versions:
        if version not in FORMULAS:
            key = "formula_version" if version == indicators["formula_version"] else "also_published"
            raise PackError(f"{path}:{_line(indicators, key)}: unknown indicator formula {version!r} "
                            f"(known: {', '.join(sorted(FORMULAS))})")
    return tuple(dict.fromkeys(versions))


def _hearing(raw, path: Path) -> dict:
    """The optional conciliation hearing: off, or scheduled within N business days, online."""
    spec = raw.get("hearing") or {"enabled": False}
    if not isinstance(spec, dict):
        raise PackError(f"{path}:{_line(raw, 'hearing')}: 'hearing' must be a mapping")
    enabled = _require(spec, "enabled", bool, path, "hearing.")
    if not enabled:
        return {"enabled": False}
    days = _require(spec, "schedule_within_business_days", int, path, "hearing.")
    if days <= 0:
        raise PackError(f"{path}:{_line(spec, 'schedule_within_business_days')}: "
                        "hearing.schedule_within_business_days must be positive")
    outcomes = spec.get("outcomes", list(HEARING_OUTCOMES))
    if not isinstance(outcomes, list) or not outcomes or any(o not in HEARING_OUTCOMES for o in outcomes):
        raise PackError(f"{path}:{_line(spec, 'outcomes')}: hearing.outcomes must be a list of "
                        f"{', '.join(HEARING_OUTCOMES)}")
    mode = spec.get("mode", "online")
    if mode != "online":
        raise PackError(f"{path}:{_line(spec, 'mode')}: hearing.mode must be online")
    return {"enabled": True, "schedule_within_business_days": days, "outcomes": tuple(outcomes), "mode": mode}


def _retention(raw, path: Path) -> Retention:
    spec = raw.get("retention") or {}
    if not isinstance(spec, dict):
        raise PackError(f"{path}:{_line(raw, 'retention')}: 'retention' must be a mapping")
    names = [f.name for f in fields(Retention)]
    for key, value in spec.items():
        if key not in names:
            raise PackError(f"{path}:{_line(spec, key)}: unknown key 'retention.{key}' (known: {', '.join(names)})")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PackError(f"{path}:{_line(spec, key)}: retention.{key} must be a whole number of days, at least 1")
    return Retention(**spec)


def _routing(raw, path: Path) -> str:
    spec = raw.get("routing") or {}
    if not isinstance(spec, dict):
        raise PackError(f"{path}:{_line(raw, 'routing')}: 'routing' must be a mapping")
    level = spec.get("by", "region")
    if level not in ROUTING_LEVELS:
        raise PackError(f"{path}:{_line(spec, 'by')}: routing.by must be one of {', '.join(ROUTING_LEVELS)}")
    return level


def _company_facts(raw, path: Path) -> dict:
    spec = raw.get("company_facts") or {}
    if not isinstance(spec, dict):
        raise PackError(f"{path}:{_line(raw, 'company_facts')}: 'company_facts' must be a mapping of fact: type")
    for name, kind in spec.items():
        if kind not in FACT_TYPES:
            raise PackError(f"{path}:{_line(spec, name)}: fact {name!r} has unknown type {kind!r} "
                            f"(known: {', '.join(FACT_TYPES)})")
    return dict(spec)


def _segment_codes(taxonomy_file: Path) -> frozenset[str]:
    """The market segment codes of a pack's taxonomy (taxonomy.csv, column segment_code)."""
    with taxonomy_file.open(encoding="utf-8", newline="") as handle:
        return frozenset(code for row in csv.DictReader(handle) if (code := row.get("segment_code", "")))


def _adhesion_rules(raw, facts: dict, segments: frozenset[str], path: Path) -> tuple[AdhesionRule, ...]:
    """Each rule: id, description, `when: {fact: {op: value}}` over declared facts, match all|any."""
    rules, seen = [], set()
    entries = raw.get("adhesion_rules") or []
    if not isinstance(entries, list):
        raise PackError(f"{path}:{_line(raw, 'adhesion_rules')}: 'adhesion_rules' must be a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise PackError(f"{path}:{_line(raw, 'adhesion_rules')}: each adhesion rule is a mapping")
        rule_id = _require(entry, "id", str, path, "adhesion_rules[].")
        if rule_id in seen:
            raise PackError(f"{path}:{_line(entry, 'id')}: adhesion rule id {rule_id!r} is used twice")
        seen.add(rule_id)
        where = f"adhesion_rules[{rule_id}]."
        description = _require(entry, "description", str, path, where)
        match = entry.get("match", "all")
        if match not in ("all", "any"):
            raise PackError(f"{path}:{_line(entry, 'match')}: {where}match must be all or any")
        when = _require(entry, "when", dict, path, where)
        conditions = []
        for fact, test in when.items():
            line = _line(when, fact)
            if fact not in facts:
                raise PackError(f"{path}:{line}: {where}when uses undeclared fact {fact!r} (declare it in company_facts)")
            if not isinstance(test, dict) or len(test) != 1:
                raise PackError(f"{path}:{line}: {where}when.{fact} must be one {{operator: value}}")
            (op, value), = test.items()
            kind = facts[fact]
            if op not in FACT_TYPES[kind]:
                raise PackError(f"{path}:{line}: {where}when.{fact}: a {kind} fact allows {', '.join(FACT_TYPES[kind])}")
            if kind == "segment":
                if not isinstance(value, list) or not value:
                    raise PackError(f"{path}:{line}: {where}when.{fact}.{op} must be a list of segment codes")
                unknown = [v for v in value if v not in segments]
                if unknown:
                    raise PackError(f"{path}:{line}: {where}when.{fact}: segments not in the taxonomy: {', '.join(map(str, unknown))}")
                value = frozenset(value)
            elif not _fact_value_ok(kind, value):
                raise PackError(f"{path}:{line}: {where}when.{fact}.{op} must be a {kind} value")
            conditions.append(Condition(fact, op, value))
        if not conditions:
            raise PackError(f"{path}:{_line(entry, 'when')}: {where}when needs at least one condition")
        rules.append(AdhesionRule(rule_id, description, tuple(conditions), match, str(entry.get("source", ""))))
    return tuple(rules)


@lru_cache(maxsize=8)
def pack_from_env() -> CountryPack:
    return load_pack(os.environ.get("CONCILIA_COUNTRY", "BR"))
