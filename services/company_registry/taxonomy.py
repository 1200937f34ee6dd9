"""Market segments and the complaint taxonomy (segment -> area -> subject -> problem group ->
problem), read once at start-up from the country pack's taxonomy.csv (see docs/adr/0006).

Every node gets a code that complaints can store: the slug of its name, unique among its siblings
and computed from the name alone, so the same pack file always yields the same codes. Names that
differ only in case or accents ("Produtos de telefonia" / "Produtos de Telefonia", both present in
the real Brazilian data) are one node.
"""
import csv
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from concilia.chassis.country import CountryPack, PackError

LEVELS = ("area", "subject", "problem_group", "problem")
COLUMNS = ("segment_code", "segment", *LEVELS)
CODE_MAX = 60


def fold(text: str) -> str:
    """Lower case without accents: the form names are compared and searched in."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", text).strip().lower()


def code_for(name: str) -> str:
    """A stable slug; long names keep a short hash of the full slug so truncation cannot collide."""
    slug = re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")
    if len(slug) <= CODE_MAX:
        return slug
    digest = hashlib.sha256(slug.encode()).hexdigest()[:6]
    return f"{slug[:CODE_MAX - 7].rstrip('-')}-{digest}"


@dataclass
class Node:
    code: str
    name: str
    children: dict[str, "Node"] = field(default_factory=dict)

    def child(self, name: str) -> "Node":
        code = code_for(name)
        if code not in self.children:
            self.children[code] = Node(code, name)
        return self.children[code]


@dataclass
class Taxonomy:
    segments: dict[str, Node]  # segment code -> segment node (its children are the areas)

    def segment(self, code: str) -> Node | None:
        return self.segments.get(code)

    def has_segment(self, code: str) -> bool:
        return code in self.segments

    def sorted_segments(self) -> list[Node]:
        return sorted(self.segments.values(), key=lambda s: fold(s.name))


def load_taxonomy(path: Path | str) -> Taxonomy:
    """Reads a taxonomy CSV; a malformed file stops start-up with its name and line."""
    path = Path(path)
    segments: dict[str, Node] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PackError(f"{path}:1: missing columns {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            values = {c: (row.get(c) or "").strip() for c in COLUMNS}
            empty = [c for c in COLUMNS if not values[c]]
            if empty:
                raise PackError(f"{path}:{line}: empty {', '.join(empty)}")
            segment_code = values["segment_code"]
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,79}", segment_code):
                raise PackError(f"{path}:{line}: segment_code {segment_code!r} must be a lowercase slug")
            segment = segments.setdefault(segment_code, Node(segment_code, values["segment"]))
            if segment.name != values["segment"]:
                raise PackError(f"{path}:{line}: segment_code {segment_code!r} already names {segment.name!r}")
            node = segment
            for level in LEVELS:
                node = node.child(values[level])
    if not segments:
        raise PackError(f"{path}:1: no taxonomy rows")
    return Taxonomy(segments)


def taxonomy_of(pack: CountryPack) -> Taxonomy:
    return load_taxonomy(pack.taxonomy_file)
