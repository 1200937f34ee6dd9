"""Open data: read, check, recompute and export the Consumidor.gov.br monthly CSV files.

    from concilia.opendata import read_columns, aggregate
    figures = aggregate(read_columns(paths)).indicators("br-2015")

See docs/opendata.md for the format, its quirks and the formula versions.
"""
from .indicators import (DEFAULT_FORMULA, DIMENSIONS, FORMULAS, Accumulator, Aggregates, Formula,
                         aggregate, aggregate_records, get_formula, register_formula)
from .layout import COLUMNS, HEADER, LAYOUT_ID, Complaint, Outcome
from .reader import (Columns, FormatError, Reader, Rejection, iter_records, read_columns,
                     read_records)
from .writer import dumps, format_record, write_records

__all__ = [
    "Accumulator", "Aggregates", "COLUMNS", "Columns", "Complaint", "DEFAULT_FORMULA",
    "DIMENSIONS", "FORMULAS", "FormatError", "Formula", "HEADER", "LAYOUT_ID", "Outcome", "Reader",
    "Rejection", "aggregate", "aggregate_records", "dumps", "format_record", "get_formula",
    "iter_records", "read_columns", "read_records", "register_formula", "write_records",
]
