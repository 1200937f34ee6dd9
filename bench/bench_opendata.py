"""Rows per second of ways to read the Consumidor.gov.br open-data files, in one run.

    .venv/bin/python bench/bench_opendata.py [FILE ...] [--repeat N]

(a) csv.DictReader over the decompressed, decoded text (the obvious baseline), (b) csv.reader
lists, (c) concilia.opendata read_columns + aggregate (what `concilia opendata indicators` runs:
full validation of every row and all groupings), (d) concilia.opendata typed records. Every
variant starts from the compressed file bytes already in memory, so disk speed is left out and
decompression is counted for all. The best of --repeat runs is reported.
"""
from __future__ import annotations

import argparse
import csv
import glob
import gzip
import io
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))  # run from a checkout

from concilia.opendata import Reader, aggregate  # noqa: E402

DEFAULT_GLOB = str(Path(__file__).resolve().parents[2] / "shared" / "data"
                   / "consumidor-gov-br-2014" / "*.csv.gz")


def _text(blob: bytes) -> str:
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    return data.decode("cp1252")


def dict_reader(blobs) -> int:
    rows = 0
    for blob in blobs:
        for _row in csv.DictReader(io.StringIO(_text(blob), newline=""), delimiter=";"):
            rows += 1
    return rows


def csv_reader(blobs) -> int:
    rows = 0
    for blob in blobs:
        reader = csv.reader(io.StringIO(_text(blob), newline=""), delimiter=";")
        next(reader)
        for _row in reader:
            rows += 1
    return rows


def concilia_indicators(paths) -> int:
    reader = Reader()
    columns = reader.columns(paths)
    aggregate(columns).indicators()
    return columns.rows


def concilia_records(paths) -> int:
    reader = Reader()
    for path in paths:
        for _record in reader.records(path):
            pass
    return reader.rows


def best_of(fn, arg, repeat: int) -> tuple[int, float]:
    best = float("inf")
    rows = 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn(arg)
        best = min(best, time.perf_counter() - start)
    return rows, best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark reading the Consumidor.gov.br open-data CSV files: csv.DictReader"
                    " and csv.reader baselines against concilia.opendata (rows/s, ratios).")
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help=f"files of the layout, plain or .gz (default: {DEFAULT_GLOB})")
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help="runs per variant; the best is kept (default: 5)")
    args = parser.parse_args(argv)
    paths = args.files or sorted(glob.glob(DEFAULT_GLOB))
    if not paths:
        parser.error(f"no input files (looked for {DEFAULT_GLOB})")
    blobs = [Path(p).read_bytes() for p in paths]
    # The concilia variants read through the OS page cache, the baselines from memory: after the
    # first run the files are cached, so the difference is a few open()/read() calls.
    variants = [
        ("(a) csv.DictReader", dict_reader, blobs),
        ("(b) csv.reader lists", csv_reader, blobs),
        ("(c) concilia indicators (validate + aggregate)", concilia_indicators, paths),
        ("(d) concilia typed records (validate)", concilia_records, paths),
    ]
    results = []
    for label, fn, arg in variants:
        rows, seconds = best_of(fn, arg, args.repeat)
        results.append((label, rows, seconds))
    baseline = results[0][1] / results[0][2]
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs;"
          f" {len(paths)} files, best of {args.repeat}")
    print(f"{'variant':50} {'rows':>8} {'seconds':>8} {'rows/s':>10} {'vs (a)':>7}")
    for label, rows, seconds in results:
        rate = rows / seconds
        print(f"{label:50} {rows:>8,} {seconds:>8.3f} {rate:>10,.0f} {rate / baseline:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
