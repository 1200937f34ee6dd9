"""Helpers of the complaint tests and benchmarks: a world of real accounts and
companies on a running stack, and a queue bound to the complaint service's events."""
import csv
import json
import subprocess
import time
import uuid
from contextlib import contextmanager

import grpc
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue

from concilia.chassis.country import load_pack
from concilia.chassis.grpc_client import bearer
from concilia.company_registry.v1 import company_registry_pb2 as rpb
from concilia.company_registry.v1 import company_registry_pb2_grpc
from concilia.complaint.v1 import complaint_pb2 as pb
from concilia.complaint.v1 import complaint_pb2_grpc
from .actors import Actors
from .ids import new_cnpj

SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"
PDF = b"%PDF-1.4\n%test\n" + b"0" * 200


@contextmanager
def private_vhost(host: str = "127.0.0.1:5672"):
    """A RabbitMQ vhost for one module's stack. The session's shared vhost is not enough: two
    stacks with the same worker would share its queues and take each other's events."""
    name = f"concilia-test-complaint-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True, timeout=60)
    try:
        yield f"amqp://guest:guest@{host}/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)


@contextmanager
def module_stack(start_stack, services, gateway, extra_env=None):
    """start_stack on a private vhost; stopped when the module ends. Yields (stack, amqp_uri)."""
    with private_vhost() as amqp_uri:
        stack = start_stack(services=services, gateway=gateway, extra_env={**(extra_env or {}), "AMQP_URI": amqp_uri})
        try:
            yield stack, amqp_uri
        finally:
            stack.stop()


def taxonomy() -> pb.Taxonomy:
    with load_pack("BR").taxonomy_file.open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["segment_code"] == SEGMENT)
    return pb.Taxonomy(segment_code=SEGMENT, area=row["area"], subject=row["subject"],
                       problem_group=row["problem_group"], problem=row["problem"])


def filing(company_id: str, **overrides) -> pb.FileComplaintRequest:
    fields = dict(company_id=company_id, taxonomy=taxonomy(), purchase_channel="Internet",
                  contacted_company_first=True, description="Charged twice for the same bill.",
                  desired_outcome="Refund", region_code="BR-SP", city="São Paulo")
    fields.update(overrides)
    return pb.FileComplaintRequest(**fields)


def rpc_error(call) -> grpc.RpcError:
    try:
        call()
    except grpc.RpcError as error:
        return error
    raise AssertionError("the call succeeded")


class World:
    """Accounts of every role, companies in the registry, and stubs, on one running stack."""

    def __init__(self, stack, jurisdiction: str = "BR", new_company_id=new_cnpj, new_person_id=None):
        """jurisdiction: the national manager's (`self.manager`); new_company_id / new_person_id:
        makers of valid ids for the stack's country (default: Brazilian CNPJ; the Actors' CPF)."""
        self.stack = stack
        self.new_company_id, self.new_person_id = new_company_id, new_person_id
        self.actors = Actors(stack)
        self.complaints = complaint_pb2_grpc.ComplaintServiceStub(grpc.insecure_channel(stack.addr("complaint")))
        self.registry = company_registry_pb2_grpc.CompanyRegistryServiceStub(
            grpc.insecure_channel(stack.addr("company_registry")))
        self.engine = sa.create_engine(stack.database_urls["complaint"].replace("postgresql://",
                                                                              "postgresql+psycopg://"))
        _, self.manager = self.actors.create("manager", jurisdiction=jurisdiction)

    def close(self) -> None:
        self.engine.dispose()

    def company(self, trade_name: str = "Banco Alfa", group_name: str = "", segment_code: str = SEGMENT) -> str:
        """An active participating company, already in the complaint service's replica."""
        company = self.registry.ApplyForAdhesion(rpb.ApplyForAdhesionRequest(
            tax_id=self.new_company_id(), legal_name=f"{trade_name} S.A.", trade_name=trade_name,
            segment_code=segment_code, group_name=group_name, terms_accepted=True), timeout=10).company
        self.registry.ApproveAdhesion(rpb.ApproveAdhesionRequest(company_id=company.id),
                                      metadata=bearer(self.manager), timeout=10)
        self.wait_replica(company.id, "active")
        return company.id

    def suspend(self, company_id: str) -> None:
        self.registry.SuspendCompany(rpb.SuspendCompanyRequest(company_id=company_id, reason="tests"),
                                     metadata=bearer(self.manager), timeout=10)
        self.wait_replica(company_id, "suspended")

    def wait_replica(self, company_id: str, status: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.connect() as connection:
                found = connection.execute(sa.text("SELECT status FROM companies WHERE id = :id"),
                                           {"id": company_id}).scalar()
            if found == status:
                return
            time.sleep(0.1)
        raise AssertionError(f"company {company_id} never became {status} in the complaint replica")

    def consumer(self) -> tuple[str, str]:
        """(account id, access token) of a new consumer."""
        ids = {"national_id": self.new_person_id()} if self.new_person_id else {}
        account, token = self.actors.create("consumer", **ids)
        return account.id, token

    def agent(self, company_id: str) -> str:
        return self.actors.create("company_agent", company_id=company_id)[1]

    def staff(self, role: str, jurisdiction: str) -> str:
        return self.actors.create(role, jurisdiction=jurisdiction)[1]

    def file(self, token: str, company_id: str, **overrides) -> pb.Complaint:
        return self.complaints.FileComplaint(filing(company_id, **overrides), metadata=bearer(token),
                                             timeout=10).complaint

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


class EventQueue:
    """A queue of our own bound to complaint.events: every event the service publishes, as JSON."""

    def __init__(self, amqp_uri: str, routing_key: str = "#"):
        self.connection = Connection(amqp_uri)
        exchange = Exchange("complaint.events", type="topic", durable=True)
        queue = Queue(f"test-complaint-{uuid.uuid4().hex[:8]}", exchange=exchange, routing_key=routing_key,
                      auto_delete=True)
        self.queue = self.connection.SimpleQueue(queue)
        self.seen: list[dict] = []

    def wait_for(self, event_type: str, complaint_id: str, timeout: float = 20.0) -> dict:
        def match(body):
            return body["type"] == event_type and body["data"]["complaint"]["complaint_id"] == complaint_id
        for body in self.seen:
            if match(body):
                return body
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except self.queue.Empty:
                break
            message.ack()
            body = message.payload if isinstance(message.payload, dict) else json.loads(message.payload)
            self.seen.append(body)
            if match(body):
                return body
        raise AssertionError(f"no {event_type} event for {complaint_id} within {timeout}s; "
                             f"saw {[b['type'] for b in self.seen]}")

    def drain(self, seconds: float) -> None:
        """Collects whatever arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = self.queue.get(timeout=max(0.05, deadline - time.monotonic()))
            except self.queue.Empty:
                return
            message.ack()
            self.seen.append(message.payload if isinstance(message.payload, dict) else json.loads(message.payload))

    def of(self, event_type: str, complaint_id: str) -> list[dict]:
        return [b for b in self.seen if b["type"] == event_type
                and b["data"]["complaint"]["complaint_id"] == complaint_id]

    def close(self) -> None:
        self.queue.close()
        self.connection.release()
