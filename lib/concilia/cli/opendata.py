"""`concilia opendata`: recompute and check indicators from the open-data CSV files."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

LAYOUT_HELP = ("Files use the Consumidor.gov.br monthly open-data layout (23 columns, Windows-1252,"
               " ';', CRLF), plain or gzip-compressed.")


def register(subparsers) -> None:
    # Imported here so `concilia --help` stays fast for the other commands.
    from concilia.opendata import FORMULAS, DEFAULT_FORMULA

    parser = subparsers.add_parser(
        "opendata", help="recompute and validate indicators from open-data CSV files",
        description="Work with the Consumidor.gov.br open-data CSV files: recompute the public "
                    "indicators and report malformed rows. " + LAYOUT_HELP)
    parser.set_defaults(handler=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="opendata_action", metavar="ACTION")

    formulas = "; ".join(f"{f.id}: {f.description}" for f in FORMULAS.values())
    ind = actions.add_parser(
        "indicators", help="national and per-company indicators of the given files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compute the public indicators over the finalised complaints of FILE... "
                    "(all pooled): complaints, solution index, strict solution index, answered "
                    "share, average answer days and satisfaction, nationally and per company, "
                    "segment, UF and finalisation month. Malformed rows are skipped and counted "
                    "(see `concilia opendata validate`).\n\n" + LAYOUT_HELP,
        epilog="formula versions: " + formulas)
    ind.add_argument("files", nargs="+", metavar="FILE", help="open-data CSV file (.csv or .gz)")
    ind.add_argument("--json", action="store_true",
                     help="print one JSON object (fractions 0-1, full precision) instead of a "
                          "table; groups are by_company, by_segment, by_uf, by_month")
    ind.add_argument("--formula", default=DEFAULT_FORMULA.id, choices=sorted(FORMULAS),
                     help="formula version of solution_index (default: %(default)s)")
    ind.add_argument("--top", type=int, default=20, metavar="N",
                     help="table only: companies shown, by complaints (default: %(default)s)")
    ind.set_defaults(handler=_indicators)

    val = actions.add_parser(
        "validate", help="check every row and report rejected ones",
        description="Read FILE... and check every row (field count, encoding, dates, codes, "
                    "score 1..5, consistency of answer and evaluation columns). Prints counts "
                    "per file and the rejected rows as FILE:LINE: REASON (rows themselves are "
                    "never printed). Exit status: 0 all rows valid, 1 some rows rejected, "
                    "2 a file could not be read as this layout. " + LAYOUT_HELP)
    val.add_argument("files", nargs="+", metavar="FILE", help="open-data CSV file (.csv or .gz)")
    val.add_argument("--max-report", type=int, default=200, metavar="N",
                     help="rejected rows listed at most (0: all; default: %(default)s)")
    val.set_defaults(handler=_validate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _indicators(args) -> int:
    from concilia.opendata import FormatError, Reader, aggregate

    start = time.perf_counter()
    reader = Reader()
    try:
        columns = reader.columns(args.files)
    except (FormatError, OSError) as error:
        print(f"concilia opendata: {error}", file=sys.stderr)
        return 2
    result = aggregate(columns).indicators(args.formula)
    seconds = time.perf_counter() - start

    summary = {
        "files": [os.fspath(f) for f in args.files],
        "rows": columns.rows,
        "rejected": len(columns.rejections),
        "seconds": seconds,
        "rows_per_second": columns.rows / seconds if seconds else None,
    }
    output = {**summary, **result}
    if args.json:
        # ASCII escapes keep the output valid whatever the terminal encoding.
        sys.stdout.write(json.dumps(output, indent=1) + "\n")
    else:
        _print_table(output, args.top)
    if columns.rejections:
        print(f"concilia opendata: {len(columns.rejections)} malformed rows skipped; "
              f"`concilia opendata validate` lists them", file=sys.stderr)
    return 0


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_table(out: dict, top: int) -> None:
    print(f"{out['rows']:,} rows read, {out['rejected']:,} rejected, "
          f"{out['rows_per_second']:,.0f} rows/s; formula {out['formula']}")
    print()
    header = (f"{'':42} {'complaints':>10} {'solution':>9} {'strict':>8} {'answered':>9} "
              f"{'days':>6} {'score':>6}")

    def line(label: str, g: dict) -> str:
        return (f"{label[:42]:42} {g['complaints']:>10,} {_pct(g['solution_index']):>9} "
                f"{_pct(g['strict_solution_index']):>8} {_pct(g['answered_share']):>9} "
                f"{_num(g['avg_answer_days']):>6} {_num(g['satisfaction']):>6}")

    print(header)
    print(line("all", out))
    print()
    print("by finalisation month")
    for month, g in out["by_month"].items():
        print(line(month, g))
    print()
    companies = sorted(out["by_company"].items(), key=lambda kv: (-kv[1]["complaints"], kv[0]))
    print(f"top {min(top, len(companies))} of {len(companies)} companies by complaints")
    for name, g in companies[:top]:
        print(line(name, g))


def _validate(args) -> int:
    from concilia.opendata import FormatError, Reader

    progress = sys.stderr.isatty()
    reader = Reader()
    failed = []
    width = max(10, *(len(os.fspath(p)) for p in args.files))
    print(f"{'file':{width}} {'rows':>8} {'accepted':>9} {'rejected':>9}")
    for number, path in enumerate(args.files, 1):
        if progress:  # one line, rewritten per file: the files are read whole anyway
            sys.stderr.write(f"\r[{number}/{len(args.files)}] reading {os.fspath(path)[-60:]}"
                             "\x1b[K")
            sys.stderr.flush()
        rows, accepted, rejected = reader.rows, reader.accepted, len(reader.rejections)
        error = None
        try:
            for _record in reader.records(path):
                pass
        except (FormatError, OSError) as exc:
            error = str(exc)
        if progress:  # clear the progress line before the result line reaches the terminal
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
        if error:
            failed.append(error)
            print(f"{os.fspath(path):{width}} unreadable: see below")
            continue
        print(f"{os.fspath(path):{width}} {reader.rows - rows:>8,} "
              f"{reader.accepted - accepted:>9,} {len(reader.rejections) - rejected:>9,}")
    print(f"{'total':{width}} {reader.rows:>8,} {reader.accepted:>9,} {len(reader.rejections):>9,}")
    for message in failed:
        print(f"error: {message}")
    shown = reader.rejections if args.max_report <= 0 else reader.rejections[:args.max_report]
    if reader.rejections:
        print()
        print("rejected rows:")
        for rejection in shown:
            print(f"  {rejection}")
        if len(shown) < len(reader.rejections):
            print(f"  ... and {len(reader.rejections) - len(shown):,} more (--max-report 0)")
    if failed:
        return 2
    return 1 if reader.rejections else 0
