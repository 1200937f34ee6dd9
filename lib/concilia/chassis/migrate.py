"""Applies a service's database migrations: python -m concilia.chassis.migrate services.identity

DATABASE_URL names the database. Used by `concilia run`, the tests and the Helm migration Job.
"""
import argparse
import os
import sys

from .db import migrate
from .logs import setup_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service_package", help="e.g. services.identity")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is required", file=sys.stderr)
        return 2
    setup_logging(args.service_package.split(".")[-1] + "-migrate")
    migrate(args.service_package, url, args.revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
