"""Public indicators over finalised complaints, with versioned formulas.

Counts are kept in an Accumulator that can be fed one record (or event) at a time and merged, so
the metrics service and the open-data importer share one definition. A Formula turns the counts
into published figures; formulas are registered under a version id ("br-2015") that a country pack
selects in configuration.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from .layout import NOT_EVALUATED, NOT_RESOLVED, RESOLVED

# Grouping dimensions computed by `aggregate`, in output order.
DIMENSIONS = ("company", "segment", "uf", "month")


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return numerator / denominator if denominator else None


class Accumulator:
    """Counts behind the indicators for one group (national, one company, one month ...).

    Only finalised complaints are fed in: the caller selects the period by finalisation date.
    """
    __slots__ = ("finalised", "resolved", "not_resolved", "not_evaluated", "answered",
                 "answer_days_sum", "answer_days_n", "score_sum", "score_n")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def add_values(self, answered: bool, evaluation: str, score: Optional[int],
                   answer_days: Optional[int], count: int = 1) -> None:
        """One finalised complaint (or `count` identical ones)."""
        self.finalised += count
        if evaluation == RESOLVED:
            self.resolved += count
        elif evaluation == NOT_RESOLVED:
            self.not_resolved += count
        elif evaluation == NOT_EVALUATED:
            self.not_evaluated += count
        else:
            raise ValueError(f"unknown evaluation {evaluation!r}")
        if answered:
            self.answered += count
            if answer_days is not None:
                self.answer_days_sum += answer_days * count
                self.answer_days_n += count
        if score is not None:
            self.score_sum += score * count
            self.score_n += count

    def add(self, record, count: int = 1) -> None:
        """Anything with answered / evaluation / score / answer_days (Complaint, Outcome)."""
        self.add_values(record.answered, record.evaluation, record.score, record.answer_days,
                        count)

    def merge(self, other: "Accumulator") -> "Accumulator":
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def __eq__(self, other) -> bool:
        return isinstance(other, Accumulator) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)}" for n in self.__slots__)
        return f"Accumulator({inner})"

    def indicators(self, formula: "str | Formula" = "br-2015") -> dict:
        return get_formula(formula).compute(self)


@dataclass(frozen=True)
class Formula:
    """A versioned definition of the published indicators. Only `solution_index` differs
    between versions today; the other figures are the same definitions in every version."""
    id: str
    description: str
    solution_index: Callable[[Accumulator], Optional[float]]

    def compute(self, acc: Accumulator) -> dict:
        return {
            "complaints": acc.finalised,
            "resolved": acc.resolved,
            "not_resolved": acc.not_resolved,
            "not_evaluated": acc.not_evaluated,
            "answered": acc.answered,
            "solution_index": self.solution_index(acc),
            "strict_solution_index": _ratio(acc.resolved, acc.finalised),
            "answered_share": _ratio(acc.answered, acc.finalised),
            "avg_answer_days": _ratio(acc.answer_days_sum, acc.answer_days_n),
            "satisfaction": _ratio(acc.score_sum, acc.score_n),
            "formula": self.id,
        }


FORMULAS: dict[str, Formula] = {}


def register_formula(formula: Formula) -> Formula:
    if formula.id in FORMULAS:
        raise ValueError(f"formula {formula.id!r} already registered")
    FORMULAS[formula.id] = formula
    return formula


def get_formula(formula: "str | Formula") -> Formula:
    if isinstance(formula, Formula):
        return formula
    try:
        return FORMULAS[formula]
    except KeyError:
        raise KeyError(f"unknown formula {formula!r}; known: {', '.join(sorted(FORMULAS))}"
                       ) from None


DEFAULT_FORMULA = register_formula(Formula(
    "br-2015",
    "Senacon data dictionary v1.0 (2015-01-05): (resolved + finalised not evaluated) / finalised;"
    " a consumer's silence counts as solved.",
    lambda a: _ratio(a.resolved + a.not_evaluated, a.finalised)))

register_formula(Formula(
    "br-2015-evaluated",
    "Resolved among evaluated complaints: resolved / (resolved + not resolved); silence is left"
    " out instead of counted as solved.",
    lambda a: _ratio(a.resolved, a.resolved + a.not_resolved)))

register_formula(Formula(
    "strict-v1",
    "Strict: resolved / finalised; silence counts as not solved (the Procon-MG 2024 reading).",
    lambda a: _ratio(a.resolved, a.finalised)))


@dataclass
class Aggregates:
    national: Accumulator
    by: dict  # dimension -> {key: Accumulator}

    def indicators(self, formula: "str | Formula" = "br-2015") -> dict:
        formula = get_formula(formula)
        result = formula.compute(self.national)
        for dimension, groups in self.by.items():
            result[f"by_{dimension}"] = {key: formula.compute(acc)
                                         for key, acc in sorted(groups.items())}
        return result


def aggregate(columns) -> Aggregates:
    """Columnar path: one C-level Counter pass per dimension over (key, shared Outcome) pairs,
    then a few thousand Accumulator updates instead of one per row and group."""
    national = Accumulator()
    for outcome, n in Counter(columns.outcome).items():
        national.add(outcome, n)
    by = {}
    for dimension in DIMENSIONS:
        groups: dict = {}
        for (key, outcome), n in Counter(zip(getattr(columns, dimension),
                                             columns.outcome)).items():
            acc = groups.get(key)
            if acc is None:
                acc = groups[key] = Accumulator()
            acc.add(outcome, n)
        by[dimension] = groups
    return Aggregates(national, by)


def aggregate_records(records: Iterable) -> Aggregates:
    """Record-by-record path (same result as `aggregate`), for streams of Complaint records."""
    national = Accumulator()
    by: dict = {d: {} for d in DIMENSIONS}
    for r in records:
        national.add(r)
        month = f"{r.finalised_on.year:04d}-{r.finalised_on.month:02d}"
        for dimension, key in zip(DIMENSIONS, (r.company, r.segment, r.uf, month)):
            groups = by[dimension]
            acc = groups.get(key)
            if acc is None:
                acc = groups[key] = Accumulator()
            acc.add(r)
    return Aggregates(national, by)
