"""Country packs: everything that differs by country, as data (countries/<code>/pack.yaml).

A pack is loaded once at start-up and validated; every error names the file and the line. The
deployment picks its pack with CONCILIA_COUNTRY (BR, AR, ...) and may point
CONCILIA_COUNTRY_PACKS_DIR at its own folder of packs.
"""
import csv
import os
import re
from dataclasses import dataclass, field
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
    # Uruguay's cédula de identidad: 7 digits + check digit, weights 2987634 (stdnum has no module).
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
class Authority:
    id: str
    name: str
    jurisdiction: str
    regions: tuple[str, ...] = ()


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
        local = start.astimezone(self.zone)
        day = local.date()
        if self.windows.day_count == "business":
            counted = 0
            while counted < days:
                day += timedelta(days=1)
                if self.is_business_day(day):
                    counted += 1
        else:
            day += timedelta(days=days)
        end_of_day = datetime.combine(day + timedelta(days=1), dtime(0, 0), tzinfo=self.zone)
        return end_of_day.astimezone(ZoneInfo("UTC"))

    def authority_for(self, region_code: str) -> Authority | None:
        """The most specific authority whose regions include region_code (else the national one)."""
        national = None
        for authority in self.authorities:
            if region_code and region_code in authority.regions:
                return authority
            if authority.jurisdiction == self.code:
                national = national or authority
        return national


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

    authorities = []
    for entry in _require(raw, "authorities", list, path):
        if not isinstance(entry, dict):
            raise PackError(f"{path}:{_line(raw, 'authorities')}: each authority is a mapping")
        authorities.append(Authority(
            id=_require(entry, "id", str, path, "authorities[]."), name=_require(entry, "name", str, path, "authorities[]."),
            jurisdiction=_require(entry, "jurisdiction", str, path, "authorities[]."),
            regions=tuple(entry.get("regions", []))))

    taxonomy_file = folder / _require(raw, "taxonomy_file", str, path)
    if not taxonomy_file.exists():
        raise PackError(f"{path}:{_line(raw, 'taxonomy_file')}: {taxonomy_file} does not exist")
    known = {"code", "name", "pack_version", "languages", "default_locale", "time_zone", "currency",
             "person_id", "company_id", "windows", "holidays_file", "authorities", "indicators",
             "refusal_reasons", "hearing", "limits", "taxonomy_file", "adhesion_rules", "routing"}
    for key in raw:
        if key not in known:
            raise PackError(f"{path}:{_line(raw, key)}: unknown key {key!r}")
    return CountryPack(
        code=raw["code"].upper(), name=_require(raw, "name", str, path),
        version=str(_require(raw, "pack_version", (str, int), path)),
        languages=tuple(_require(raw, "languages", list, path)),
        default_locale=_require(raw, "default_locale", str, path), time_zone=time_zone,
        currency=_require(raw, "currency", str, path), person_id=scheme("person_id"),
        company_id=scheme("company_id"), windows=windows, holidays=frozenset(holidays),
        authorities=tuple(authorities),
        formula_version=str(_require(_require(raw, "indicators", dict, path), "formula_version", str, path, "indicators.")),
        refusal_reasons=tuple(_require(raw, "refusal_reasons", list, path)),
        hearing=dict(raw.get("hearing") or {"enabled": False}), limits=dict(raw.get("limits") or {}),
        folder=folder, taxonomy_file=taxonomy_file,
        extra={k: raw[k] for k in ("adhesion_rules", "routing") if k in raw})


@lru_cache(maxsize=8)
def pack_from_env() -> CountryPack:
    return load_pack(os.environ.get("CONCILIA_COUNTRY", "BR"))
