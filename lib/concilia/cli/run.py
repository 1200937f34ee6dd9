"""`concilia run`: the whole stack on one machine, on embedded defaults."""
import os
import signal
import socket
import sys
import time
from pathlib import Path

from concilia.devstack import REPO, Stack, available_services, ensure_local_broker, sqlite_urls

DEMO_PASSWORD = "concilia-demo-1"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run every api, worker and the gateway locally (SQLite files, local RabbitMQ)",
        description="Runs the whole Concilia stack on this machine: migrates the SQLite databases under "
                    "--data-dir, starts RabbitMQ if needed (installing it on Debian when missing), starts "
                    "every service's api and worker and the gateway, seeds demo data, and stops everything "
                    "cleanly on Ctrl-C.")
    parser.add_argument("--data-dir", default=str(REPO / ".data"), help="databases, keys, logs (default: .data)")
    parser.add_argument("--port", type=int, default=8080, help="gateway port (default: 8080)")
    parser.add_argument("--country", default=os.environ.get("CONCILIA_COUNTRY", "BR"),
                        help="country pack (default: BR)")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--no-seed", action="store_true", help="do not create the demo accounts and companies")
    parser.add_argument("--controlled-clock", action="store_true",
                        help="run on a controlled clock (<data-dir>/clock) that `concilia clock` and "
                             "`concilia replay` move; for demos and replays only")
    parser.set_defaults(handler=run)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(args) -> int:
    data_dir = Path(args.data_dir).resolve()
    say = lambda message: print(f"  {message}", flush=True)  # noqa: E731
    print("Concilia: starting the stack", flush=True)
    if args.amqp_uri.startswith("amqp://guest:guest@127.0.0.1:5672"):
        say("checking RabbitMQ")
        ensure_local_broker()
    services = available_services()
    stack = Stack(
        data_dir=data_dir, database_urls=sqlite_urls(data_dir, services), amqp_uri=args.amqp_uri,
        services=services, ports={"gateway": args.port},
        extra_env={"CONCILIA_COUNTRY": args.country, "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
                   "BOOTSTRAP_ADMIN_EMAIL": "admin@concilia.local", "BOOTSTRAP_ADMIN_PASSWORD": DEMO_PASSWORD,
                   "MIGRATE_ON_START": "false"})
    if args.controlled_clock:
        stack.extra_env["CONCILIA_CLOCK_FILE"] = str(data_dir / "clock")
        print(f"  controlled clock: {data_dir / 'clock'} (export CONCILIA_CLOCK_FILE to use `concilia clock`)")
    stopping = False

    def on_signal(_signum, _frame):
        nonlocal stopping
        stopping = True
    signal.signal(signal.SIGTERM, on_signal)
    # Started in the background by a shell, SIGINT arrives ignored: make Ctrl-C/kill -INT work anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    busy = [f"{name} ({port})" for name, port in stack.ports.items() if port_in_use(port)]
    if busy:
        print(f"ports already in use: {', '.join(busy)}; is another Concilia running? "
              f"(stop it, or pass --port for the gateway)", file=sys.stderr)
        return 1
    try:
        stack.start(timeout=120, progress=say)
        if not args.no_seed:
            from .seed import seed_demo
            for line in seed_demo(stack, args.country, DEMO_PASSWORD):
                say(line)
        print(f"\nConcilia is running: {stack.gateway_url}  (health: {stack.gateway_url}/healthz)")
        print(f"Logs: {data_dir / 'logs'}   Stop: Ctrl-C\n", flush=True)
        while not stopping:
            for process in stack.processes.values():
                if not process.running:
                    print(f"\n{process.name} stopped unexpectedly (exit {process.popen.returncode}):\n"
                          f"{process.log_tail()}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    except RuntimeError as error:
        print(f"\nthe stack did not start: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        print("stopping ...", flush=True)
        stack.stop()
        print("stopped.", flush=True)
