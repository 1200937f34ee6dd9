"""Entry point of the `concilia` command: dispatches to the sub-command modules."""
import argparse
import importlib
import sys

# Sub-command modules; each defines register(subparsers) which adds its parser(s) and sets
# `handler` (a function taking the parsed args and returning an exit code).
COMMAND_MODULES = [
    "concilia.cli.run",
    "concilia.cli.opendata",
    "concilia.cli.replay",
    "concilia.cli.clock",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="concilia",
        description="Concilia: online consumer-company dispute resolution. "
                    "Run the stack, work with open data, replay real complaints.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # command not built in this checkout
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
