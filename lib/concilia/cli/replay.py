"""`concilia replay`: drive real open-data complaints through a running stack's public gRPC APIs.

Every complaint of the files lives its recorded life: filed on its opening date, answered after its
recorded answer time (or never), evaluated as recorded on its finalisation date (or left silent until
the evaluation window lapses). Time is compressed through the stack's controlled clock
(CONCILIA_CLOCK_FILE, shared with the stack's processes); the stack's own worker sweeps apply the
deadlines. At the end the metrics service is asked for the indicators, which must equal what
`concilia opendata indicators` computes from the same files.
"""
import json
import math
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time as dtime, timedelta

import grpc

from concilia.chassis.clock import FileClock
from concilia.chassis.country import load_pack
from concilia.chassis.grpc_client import bearer, make_channel
from concilia.company_registry.v1 import company_registry_pb2 as registry_pb2
from concilia.company_registry.v1 import company_registry_pb2_grpc as registry_grpc
from concilia.complaint.v1 import complaint_pb2, complaint_pb2_grpc
from concilia.identity.v1 import identity_pb2, identity_pb2_grpc
from concilia.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from concilia.opendata import read_records

PASSWORD = "replay-password-1"
KEYS = ("complaints", "solution_index", "strict_solution_index", "answered_share", "avg_answer_days", "satisfaction")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
             grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay open-data complaints through a running stack and compare its indicators",
        description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="open-data CSV files (plain or .gz)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--clock-file", default=os.environ.get("CONCILIA_CLOCK_FILE"),
                        help="the stack's controlled clock file (default: $CONCILIA_CLOCK_FILE)")
    parser.add_argument("--country", default=os.environ.get("CONCILIA_COUNTRY", "BR"))
    parser.add_argument("--admin-email", default=os.environ.get("BOOTSTRAP_ADMIN_EMAIL", "admin@concilia.local"))
    parser.add_argument("--admin-password", default=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", "concilia-demo-1"))
    for name, port in (("identity", 50051), ("company-registry", 50052), ("complaint", 50053), ("metrics", 50055)):
        variable = name.upper().replace("-", "_") + "_ADDR"
        parser.add_argument(f"--{name}-addr", default=os.environ.get(variable, f"127.0.0.1:{port}"),
                            help=f"default: ${variable} or 127.0.0.1:{port}")
    parser.add_argument("--threads", type=int, default=32, help="concurrent calls (default: 32)")
    parser.add_argument("--days-per-second", type=float, default=0.0,
                        help="at most this many replayed days per second, e.g. to watch the dashboards "
                             "move (default: 0, as fast as the stack goes)")
    parser.add_argument("--settle-timeout", type=float, default=300.0,
                        help="seconds to wait for the indicators to count every complaint (default: 300)")
    parser.set_defaults(handler=run)


class Api:
    """Stubs with retries on transient failures (a replay must survive restarts)."""

    def __init__(self, args):
        self.identity = identity_pb2_grpc.IdentityServiceStub(make_channel(args.identity_addr, timeout=30))
        self.registry = registry_grpc.CompanyRegistryServiceStub(make_channel(args.company_registry_addr, timeout=30))
        self.complaint = complaint_pb2_grpc.ComplaintServiceStub(make_channel(args.complaint_addr, timeout=30))
        self.metrics = metrics_pb2_grpc.MetricsServiceStub(make_channel(args.metrics_addr, timeout=60))

    @staticmethod
    def call(method, request, token="", attempts=60, retry_on=RETRYABLE):
        delay = 0.1
        for attempt in range(attempts):
            try:
                return method(request, metadata=bearer(token))
            except grpc.RpcError as error:
                if error.code() not in retry_on or attempt == attempts - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def _ignore_exists(fn):
    try:
        return fn()
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


class Replay:
    def __init__(self, args, records, progress):
        self.args = args
        self.records = records
        self.progress = progress
        self.api = Api(args)
        self.pack = load_pack(args.country)
        self.clock = FileClock(args.clock_file)
        self.run_tag = format(int(time.time()), "x")
        self.complaint_ids: dict[int, str] = {}
        self.lock = threading.Lock()

    # --- setup -------------------------------------------------------------------------------
    def login(self, email: str, password: str = PASSWORD) -> str:
        return self.api.call(self.api.identity.Login, identity_pb2.LoginRequest(email=email, password=password)).tokens.access_token

    def setup(self, pool: ThreadPoolExecutor) -> None:
        admin = self.login(self.args.admin_email, self.args.admin_password)
        manager_email = f"replay-manager-{self.run_tag}@replay.invalid"
        _ignore_exists(lambda: self.api.call(self.api.identity.CreateAccount, identity_pb2.CreateAccountRequest(
            role=identity_pb2.ROLE_MANAGER, name="Replay manager", email=manager_email, password=PASSWORD,
            jurisdiction=self.pack.code), admin))
        self.manager = self.login(manager_email)
        segments = {s.name: s.code for s in self.api.call(self.api.registry.ListSegments,
                                                          registry_pb2.ListSegmentsRequest()).segments}
        self.segment_codes = segments
        by_company = defaultdict(Counter)
        for record in self.records:
            by_company[record.company][record.segment] += 1
        self.companies = sorted(by_company)
        self.progress(f"creating {len(self.companies)} companies and their agents")
        results = list(pool.map(lambda item: self._company(*item),
                                [(i, name, by_company[name].most_common(1)[0][0]) for i, name in enumerate(self.companies)]))
        self.company_ids = {name: company_id for name, company_id, _ in results}
        self.agent_tokens = {name: token for name, _, token in results}
        # Enough consumers that nobody exceeds the pack's daily filing limit on the busiest day.
        per_day = Counter(record.opened_on for record in self.records)
        limit = int(self.pack.limits.get("filings_per_day", 20))
        count = max(1, math.ceil(max(per_day.values()) / limit) + 1)
        self.progress(f"creating {count} consumers")
        self.consumer_tokens = list(pool.map(self._consumer, range(count)))
        # Each day's filings go round the consumers, so none files more than the limit that day.
        position = Counter()
        self.consumer_of = {}
        for index, record in enumerate(self.records):
            self.consumer_of[index] = self.consumer_tokens[position[record.opened_on] % count]
            position[record.opened_on] += 1

    def _company(self, index: int, name: str, segment: str):
        from stdnum.br import cnpj
        base = f"{(int(self.run_tag, 16) * 1000 + index) % 10**8:08d}0001"
        tax_id = base + cnpj.calc_check_digits(base)
        company = self.api.call(self.api.registry.ApplyForAdhesion, registry_pb2.ApplyForAdhesionRequest(
            tax_id=tax_id, legal_name=f"{name} (replay)"[:120], trade_name=name[:120],
            segment_code=self.segment_codes.get(segment, ""), terms_accepted=True)).company
        self.api.call(self.api.registry.ApproveAdhesion, registry_pb2.ApproveAdhesionRequest(company_id=company.id),
                      self.manager)
        email = f"replay-agent-{self.run_tag}-{index}@replay.invalid"
        self.api.call(self.api.identity.CreateAccount, identity_pb2.CreateAccountRequest(
            role=identity_pb2.ROLE_COMPANY_AGENT, name=f"Agent {index}", email=email, password=PASSWORD,
            company_id=company.id), self.manager)
        return name, company.id, self.login(email)

    def _consumer(self, index: int) -> str:
        from stdnum.br import cpf
        base = f"{(int(self.run_tag, 16) * 10000 + index) % 10**9:09d}"
        email = f"replay-consumer-{self.run_tag}-{index}@replay.invalid"
        self.api.call(self.api.identity.CreateAccount, identity_pb2.CreateAccountRequest(
            role=identity_pb2.ROLE_CONSUMER, name=f"Consumer {index}", email=email, password=PASSWORD,
            national_id=base + cpf._calc_check_digits(base)))
        return self.login(email)

    # --- the timeline ------------------------------------------------------------------------
    def timeline(self) -> dict[date, list[tuple[int, str, int]]]:
        """day -> [(phase, action, record index)]; phases order a day's work: file, answer, evaluate."""
        windows = self.pack.windows
        days: dict[date, list] = defaultdict(list)
        for index, record in enumerate(self.records):
            days[record.opened_on].append((0, "file", index))
            if record.answered and record.answer_days is not None:
                answered_on = record.opened_on + timedelta(days=record.answer_days)
                days[answered_on].append((1, "answer", index))
                earliest = answered_on
            else:
                earliest = record.opened_on + timedelta(days=windows.company_answer_days + 1)
            if record.status == "Finalizada avaliada":
                # Evaluate on the recorded day, kept inside the evaluation window the service enforces.
                latest = earliest + timedelta(days=windows.consumer_evaluation_days - 1)
                days[min(max(record.finalised_on, earliest), latest)].append((2, "evaluate", index))
        return days

    def at_noon(self, day: date) -> datetime:
        return datetime.combine(day, dtime(12, 0), tzinfo=self.pack.zone)

    def act(self, action: str, index: int) -> None:
        record = self.records[index]
        if action == "file":
            consumer = self.consumer_of[index]
            response = self.api.call(self.api.complaint.FileComplaint, complaint_pb2.FileComplaintRequest(
                idempotency_key=f"replay-{self.run_tag}-{index}", company_id=self.company_ids[record.company],
                taxonomy=complaint_pb2.Taxonomy(
                    segment_code=self.segment_codes.get(record.segment, ""), area=record.area,
                    subject=record.subject, problem_group=record.problem_group, problem=record.problem),
                purchase_channel=record.how_bought, contacted_company_first=record.contacted_company,
                description="Reclamação reproduzida a partir dos dados abertos do Consumidor.gov.br.",
                desired_outcome="Solução do problema.", region_code=f"{self.pack.code}-{record.uf}",
                city=record.city), consumer,
                retry_on=RETRYABLE + (grpc.StatusCode.FAILED_PRECONDITION,))  # company replica catching up
            with self.lock:
                self.complaint_ids[index] = response.complaint.id
        elif action == "answer":
            agent = self.agent_tokens[record.company]
            self.once(lambda: self.api.call(self.api.complaint.AnswerComplaint, complaint_pb2.AnswerComplaintRequest(
                complaint_id=self.complaint_ids[index], text="Resposta registrada nos dados abertos."), agent),
                index, agent, done=lambda complaint: complaint.answered)
        else:
            consumer = self.consumer_of[index]
            resolution = (complaint_pb2.RESOLUTION_RESOLVED if record.evaluation == "Resolvida"
                          else complaint_pb2.RESOLUTION_NOT_RESOLVED)
            self.once(lambda: self.api.call(self.api.complaint.EvaluateComplaint, complaint_pb2.EvaluateComplaintRequest(
                complaint_id=self.complaint_ids[index], resolution=resolution,
                satisfaction_score=record.score or 1), consumer),
                index, consumer, done=lambda complaint: complaint.resolution != complaint_pb2.RESOLUTION_UNSPECIFIED)

    def _act_chain(self, item: tuple[int, list[str]]) -> None:
        index, actions = item
        for action in actions:
            self.act(action, index)

    def once(self, step, index: int, token: str, done, attempts: int = 120) -> None:
        """Runs a state-changing step exactly once in effect. FAILED_PRECONDITION means either the
        step already happened (a retry after a lost response) or its state is not reached yet (an
        unanswered complaint waits for the worker's deadline sweep): look, then finish or wait."""
        pause = 0.05  # the sweep usually comes within a fraction of a second: look often, then less
        for _ in range(attempts):
            try:
                step()
                return
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
            complaint = self.api.call(self.api.complaint.GetComplaint, complaint_pb2.GetComplaintRequest(
                complaint_id=self.complaint_ids[index]), token).complaint
            if done(complaint):
                return
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)
        raise RuntimeError(f"record {index}: the complaint never reached the state this step needs")

    def drive(self, pool: ThreadPoolExecutor) -> None:
        days = self.timeline()
        first, last = min(days), max(days)
        total = sum(len(actions) for actions in days.values())
        done, day = 0, first
        started = time.monotonic()
        while day <= last:
            if self.args.days_per_second > 0:  # keep the requested pace: wait for this day's slot
                time.sleep(max(0.0, started + (day - first).days / self.args.days_per_second - time.monotonic()))
            self.clock.set(self.at_noon(day))
            # One task per complaint doing its actions of the day in phase order (file, answer,
            # evaluate): the only wait is for the day's last complaint before the clock moves on,
            # not one wait per phase.
            chains: dict[int, list[str]] = defaultdict(list)
            for _phase, action, index in sorted(days.get(day, [])):
                chains[index].append(action)
            list(pool.map(self._act_chain, chains.items()))
            done += len(days.get(day, []))
            self.progress(f"{day.isoformat()}: {done}/{total} actions", transient=True)
            day += timedelta(days=1)
        # Let every remaining window lapse so silent complaints finalise.
        windows = self.pack.windows
        self.clock.set(self.at_noon(last + timedelta(days=windows.company_answer_days
                                                     + windows.consumer_evaluation_days + 5)))

    def indicators(self) -> metrics_pb2.GetIndicatorsResponse:
        return self.api.call(self.api.metrics.GetIndicators, metrics_pb2.GetIndicatorsRequest(
            scope=metrics_pb2.SCOPE_NATIONAL))


def figures(indicators) -> dict:
    return {
        "complaints": indicators.complaints, "solution_index": indicators.solution_index,
        "strict_solution_index": indicators.strict_solution_index, "answered_share": indicators.answered_share,
        "avg_answer_days": indicators.avg_answer_days, "satisfaction": indicators.satisfaction,
    }


def run(args) -> int:
    if not args.clock_file:
        print("replay needs the stack's controlled clock: --clock-file or CONCILIA_CLOCK_FILE", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    started = time.monotonic()

    def progress(message: str, transient: bool = False) -> None:
        message = f"[{time.monotonic() - started:6.1f} s] {message}"
        if tty:
            print(f"\r\033[K{message}", end="" if transient else "\n", file=sys.stderr, flush=True)
        elif not transient:
            print(message, file=sys.stderr, flush=True)

    records, rejected = read_records(args.files)
    if rejected:
        progress(f"{len(rejected)} rows rejected by the reader (see `concilia opendata validate`)")
    progress(f"replaying {len(records)} complaints")
    replay = Replay(args, records, progress)
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        replay.setup(pool)
        replay.drive(pool)
    progress("waiting for the metrics service to count every complaint")
    deadline = time.monotonic() + args.settle_timeout
    while True:
        response = replay.indicators()
        counted = sum(response.by_company[replay.company_ids[name]].complaints
                      for name in replay.companies if replay.company_ids[name] in response.by_company)
        if counted >= len(records) or time.monotonic() > deadline:
            break
        progress(f"metrics counted {counted}/{len(records)}", transient=True)
        time.sleep(1)
    seconds = time.monotonic() - started
    by_company = {}
    for name in replay.companies:
        company_id = replay.company_ids[name]
        if company_id in response.by_company:
            by_company[name] = figures(response.by_company[company_id])
    own = [response.by_company[replay.company_ids[n]] for n in replay.companies if replay.company_ids[n] in response.by_company]
    national = _pooled(own)
    output = {**national, "by_company": by_company, "seconds": round(seconds, 1),
              "complaints_per_second": round(len(records) / seconds, 1) if seconds else None,
              "events_lost": len(records) - national["complaints"]}
    if args.json:
        print(json.dumps(output, indent=1, ensure_ascii=False))
    else:
        for key in (*KEYS, "seconds", "complaints_per_second", "events_lost"):
            print(f"{key:>24}: {output[key]}")
    return 0 if output["events_lost"] == 0 else 1


def _pooled(items) -> dict:
    """This replay's own companies pooled (the stack may hold other complaints too)."""
    complaints = sum(i.complaints for i in items)
    resolved = sum(i.resolved for i in items)
    not_evaluated = sum(i.not_evaluated for i in items)
    answered = sum(i.answered for i in items)
    answer_days = sum(i.avg_answer_days * i.answered for i in items)
    evaluated = sum(i.resolved + i.not_resolved for i in items)
    score_sum = sum(i.satisfaction * (i.resolved + i.not_resolved) for i in items)
    ratio = lambda a, b: a / b if b else None  # noqa: E731
    return {"complaints": complaints, "solution_index": ratio(resolved + not_evaluated, complaints),
            "strict_solution_index": ratio(resolved, complaints), "answered_share": ratio(answered, complaints),
            "avg_answer_days": ratio(answer_days, answered), "satisfaction": ratio(score_sum, evaluated)}
