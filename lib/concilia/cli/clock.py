"""`concilia clock`: read or move the controlled clock of a local stack (CONCILIA_CLOCK_FILE)."""
import os
import sys
from datetime import datetime, timedelta, timezone

from concilia.chassis.clock import FileClock


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "clock", help="show or move the controlled clock (development, tests and replays only)",
        description="Processes started with CONCILIA_CLOCK_FILE read the platform time from that file. "
                    "This command shows it, sets it to an instant, or advances it.")
    parser.add_argument("--file", default=os.environ.get("CONCILIA_CLOCK_FILE"),
                        help="the clock file (default: $CONCILIA_CLOCK_FILE)")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--set", metavar="ISO8601", help="set the clock, e.g. 2014-05-07T09:00:00-03:00")
    actions.add_argument("--advance", metavar="DAYS", type=float, help="move the clock forward by DAYS")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if not args.file:
        print("no clock file: pass --file or set CONCILIA_CLOCK_FILE", file=sys.stderr)
        return 2
    clock = FileClock(args.file)
    if args.set:
        try:
            instant = datetime.fromisoformat(args.set)
        except ValueError:
            print(f"not an ISO-8601 instant: {args.set!r}", file=sys.stderr)
            return 2
        clock.set(instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc))
    elif args.advance is not None:
        clock.set(clock.now() + timedelta(days=args.advance))
    print(clock.now().isoformat())
    return 0
