"""The gettext catalogs (pt-BR, es-AR, en), with Babel: the gateway's (pages, errors) and the
notification service's (in-app notifications and e-mails), each in services/<svc>/i18n/.

    python scripts/i18n.py extract   # marked strings -> services/<svc>/i18n/messages.pot
    python scripts/i18n.py update    # .pot -> each translations/<ll_CC>/LC_MESSAGES/messages.po
    python scripts/i18n.py compile   # .po -> .mo (what the processes load)
    python scripts/i18n.py check     # exit 1 when a marked string lacks a translation in any
                                     # catalog, a .mo is stale, or a fully marked template shows
                                     # unmarked text (services/gateway/i18n/fully_marked.txt)

A translator's loop: mark strings, `extract`, `update`, fill the msgstr in each .po, `compile`,
`check`. English is the source language: `update` copies each new msgid into the en catalog.
--root points at another checkout (the tests use a copy); --catalog limits a command to one of
CATALOGS (default: all).
"""
import argparse
import fnmatch
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parents[1]
LOCALES = ("pt_BR", "es_AR", "en")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "N_": None, "N_plural": (1, 2)}  # N_: marked where defined, translated where shown
# The services that show text to people: each has services/<name>/i18n/ (babel.cfg, catalogs).
CATALOGS = ("gateway", "notification")
# Text that is the same in every language (the product's name, separators).
UNTRANSLATED = {"Concilia"}


class Paths:
    def __init__(self, root: Path, service: str = "gateway"):
        self.root = root
        self.service = service
        self.i18n = root / "services" / service / "i18n"
        self.templates = root / "services" / service / "templates"
        self.pot = self.i18n / "messages.pot"
        self.fully_marked = self.i18n / "fully_marked.txt"

    def po(self, locale: str) -> Path:
        return self.i18n / "translations" / locale / "LC_MESSAGES" / "messages.po"

    def mo(self, locale: str) -> Path:
        return self.po(locale).with_suffix(".mo")


def extract(paths: Paths) -> Catalog:
    """Every marked string of the service (Python and templates), as a template catalog."""
    with (paths.i18n / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    catalog = Catalog(project="Concilia", msgid_bugs_address="", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(paths.root), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def read_catalog(path: Path, locale: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def write_catalog(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=True, ignore_obsolete=True)


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def cmd_extract(paths: Paths) -> int:
    write_catalog(paths.pot, extract(paths))
    print(f"wrote {paths.pot.relative_to(paths.root)}")
    return 0


def cmd_update(paths: Paths) -> int:
    template = read_catalog(paths.pot, None)
    for locale in LOCALES:
        path = paths.po(locale)
        catalog = read_catalog(path, locale) if path.exists() else Catalog(locale=locale, project="Concilia")
        catalog.update(template, no_fuzzy_matching=True)
        if locale == "en":  # the source language translates to itself
            for message in catalog:
                if message.id and not _translated(message):
                    message.string = message.id if isinstance(message.id, str) else tuple(message.id)
        write_catalog(path, catalog)
        untranslated = [m.id for m in catalog if m.id and not _translated(m)]
        print(f"{path.relative_to(paths.root)}: {len(untranslated)} to translate")
    return 0


def cmd_compile(paths: Paths) -> int:
    for locale in LOCALES:
        paths.mo(locale).write_bytes(compiled(read_catalog(paths.po(locale), locale)))
        print(f"wrote {paths.mo(locale).relative_to(paths.root)}")
    return 0


def _translated(message) -> bool:
    if message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return all(strings)


def _placeholders(text) -> set[str]:
    """Named %(name)s placeholders: Babel accepts a translation that drops some; we do not."""
    texts = text if isinstance(text, (list, tuple)) else [text]
    return {name for t in texts for name in re.findall(r"%\((\w+)\)", t or "")}


def _forms(string):
    """A translation comparable across .po and .mo: plural forms as a tuple (read_mo gives a list)."""
    return tuple(string) if isinstance(string, (list, tuple)) else string


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def cmd_check(paths: Paths) -> int:
    problems = check(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"i18n check ({paths.service}): {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"i18n check ({paths.service}): every marked string translated in {', '.join(LOCALES)}")
    return 0


def check(paths: Paths) -> list[str]:
    if not (paths.i18n / "babel.cfg").exists():
        return [f"{(paths.i18n / 'babel.cfg').relative_to(paths.root)}: missing catalog configuration"]
    problems = []
    template = extract(paths)
    wanted = {_key(m): m for m in template if m.id}
    for locale in LOCALES:
        po = paths.po(locale)
        if not po.exists():
            problems.append(f"{po.relative_to(paths.root)}: missing catalog")
            continue
        catalog = read_catalog(po, locale)
        for key, message in wanted.items():
            found = catalog.get(message.id, context=message.context)
            if found is None or not _translated(found):
                where = ", ".join(f"{f}:{n}" for f, n in message.locations[:3])
                problems.append(f"{po.relative_to(paths.root)}: no translation for {key!r} (used at {where})")
        for message, errors in catalog.check():
            for error in errors:
                problems.append(f"{po.relative_to(paths.root)}: {_key(message)!r}: {error}")
        for message in catalog:
            if message.id and _translated(message) and _placeholders(message.id) != _placeholders(message.string):
                problems.append(f"{po.relative_to(paths.root)}: {_key(message)!r}: the translation must keep the "
                                f"placeholders {', '.join(sorted(_placeholders(message.id))) or '(none)'}")
        mo = paths.mo(locale)
        if not mo.exists():
            problems.append(f"{mo.relative_to(paths.root)}: missing; run scripts/i18n.py compile")
        else:
            with mo.open("rb") as handle:
                on_disk = {(_key(m), m.context): _forms(m.string) for m in read_mo(handle) if m.id}
            expected = {(_key(m), m.context): _forms(m.string) for m in catalog if m.id and _translated(m)}
            if on_disk != expected:
                problems.append(f"{mo.relative_to(paths.root)}: stale (differs from the .po); run scripts/i18n.py compile")
    return problems + unmarked_text(paths)


# --- unmarked text in fully marked templates ---------------------------------------------------
_ATTRIBUTES = re.compile(r"""\b(title|placeholder|alt|aria-label)\s*=\s*("([^"]*)"|'([^']*)')""", re.I)
_HIDDEN = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]*>", re.S)
_WORDS = re.compile(r"[^\W\d_][^<>\x00]*")


def _fully_marked_templates(paths: Paths) -> list[Path]:
    if not paths.fully_marked.exists():
        return []
    globs = [line.strip() for line in paths.fully_marked.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    found = []
    for template in sorted(paths.templates.rglob("*.html")):
        name = template.relative_to(paths.templates).as_posix()
        if any(fnmatch.fnmatch(name, pattern) for pattern in globs):
            found.append(template)
    return found


def _skeleton(source: str) -> tuple[str, list[tuple[int, int]]]:
    """The template's literal text with every Jinja tag/expression (and {% trans %} text) as \\x00;
    plus (offset, line) marks to map offsets back to lines."""
    from jinja2 import Environment
    environment = Environment(extensions=["jinja2.ext.i18n"])
    text, marks, in_trans, after_block_begin = [], [], False, False
    offset = 0
    for lineno, kind, value in environment.lex(source):
        if kind == "data" and not in_trans:
            marks.append((offset, lineno))
            text.append(value)
            offset += len(value)
            continue
        if kind == "block_begin":
            after_block_begin = True
        elif kind == "name" and after_block_begin:
            in_trans = value in ("trans", "pluralize") or (in_trans and value != "endtrans")
            after_block_begin = False
        if kind in ("variable_begin", "block_begin", "data"):
            text.append("\x00")
            offset += 1
    return "".join(text), marks


def _line_at(marks: list[tuple[int, int]], skeleton: str, offset: int) -> int:
    start, line = 0, 1
    for mark_offset, mark_line in marks:
        if mark_offset > offset:
            break
        start, line = mark_offset, mark_line
    return line + skeleton.count("\n", start, offset)


def unmarked_text(paths: Paths) -> list[str]:
    problems = []
    for template in _fully_marked_templates(paths):
        skeleton, marks = _skeleton(template.read_text(encoding="utf-8"))
        blank = lambda match: " " * len(match.group(0)) if "\n" not in match.group(0) else re.sub(r"[^\n]", " ", match.group(0))  # noqa: E731
        visible = _HIDDEN.sub(blank, skeleton)
        for tag in _TAG.finditer(visible):
            for attribute in _ATTRIBUTES.finditer(tag.group(0)):
                value = attribute.group(3) if attribute.group(3) is not None else attribute.group(4)
                if re.search(r"[^\W\d_]", value.replace("\x00", "")):
                    line = _line_at(marks, skeleton, tag.start())
                    problems.append(f"{template.relative_to(paths.root)}:{line}: unmarked text in "
                                    f"{attribute.group(1)}={value!r}")
        visible = _TAG.sub(blank, visible)
        visible = re.sub(r"&#?\w+;", lambda m: " " * len(m.group(0)), visible)
        for words in _WORDS.finditer(visible):
            text = words.group(0).strip()
            if text and text not in UNTRANSLATED:
                line = _line_at(marks, skeleton, words.start())
                problems.append(f"{template.relative_to(paths.root)}:{line}: unmarked text {text!r}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    parser.add_argument("--catalog", choices=CATALOGS, action="append", help="only this service's catalog")
    args = parser.parse_args(argv)
    command = {"extract": cmd_extract, "update": cmd_update, "compile": cmd_compile, "check": cmd_check}[args.command]
    failed = 0
    for service in args.catalog or CATALOGS:
        failed |= command(Paths(args.root.resolve(), service))
    return failed


if __name__ == "__main__":
    sys.exit(main())
