"""The main complaint journeys clicked through in real headless Chromium (Debian's chromium and
chromium-driver), driven over the W3C WebDriver protocol with plain HTTP calls: a consumer registers,
files with an attachment, follows and messages; the company agent works the inbox and answers; the
consumer evaluates; a manager reviews a refusal."""
import uuid

import pytest

from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from support.actors import PASSWORD
from support.browser import AVAILABLE, chromium
from support.ids import new_cpf
from support.complaints import PDF, World, module_stack

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium and chromium-driver")]


@pytest.fixture(scope="module")
def stack(start_stack):
    with module_stack(start_stack, ["identity", "company_registry", "complaint"], True) as (stack, _amqp_uri):
        yield stack


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromedriver")) as session:
        yield session


def test_consumer_files_follows_and_evaluates_while_the_company_answers(stack, browser, tmp_path):
    world = World(stack)
    company = world.company("Loja Navegador")
    agent_email = f"agent-{uuid.uuid4().hex[:8]}@example.test"
    world.actors.create("company_agent", company_id=company, email=agent_email)
    base = stack.gateway_url

    # The consumer registers and signs in through the pages.
    email = f"consumer-{uuid.uuid4().hex[:8]}@example.test"
    browser.open(base + "/register")
    browser.type("input[name=name]", "Maria Teste")
    browser.type("input[name=email]", email)
    browser.type("input[name=national_id]", new_cpf())
    browser.type("input[name=password]", PASSWORD)
    browser.click("form button[type=submit]")
    # The login page with the "account created" notice: a sign-in opened before the registration's
    # answer lands would overtake the registration itself.
    browser.find("p.flash.ok")
    browser.sign_in(base, email)

    # Files a complaint with an attachment.
    browser.open(base + "/complaints/new")
    browser.select("#company_id", "Loja Navegador")
    browser.click("#choose")
    browser.type("#purchase_channel", "Internet")
    browser.type("#description", "The blender arrived broken and nobody answers the phone.")
    browser.type("#desired_outcome", "A new blender")
    browser.type("#region_code", "BR-SP")
    browser.type("#city", "Campinas")
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(PDF)
    browser.type("#attachments", str(receipt))
    browser.click("#file")
    assert browser.wait_for_attribute("#status", "data-status", "waiting_company") == "waiting_company"
    assert browser.text("#days-left") == "11"  # filing day + 10 calendar days, counted in local days
    assert browser.text("a.attachment") == "receipt.pdf"
    complaint_url = browser.current_url
    browser.type("#message-text", "Please call me in the morning.")
    browser.click("#send-message")
    assert "Please call me in the morning." in browser.wait_for_text("#messages", "Please call me in the morning.")

    # The company agent finds it in the inbox, sorted by deadline, and answers.
    browser.sign_in(base, agent_email)
    browser.open(base + "/company/inbox")
    rows = browser.all("#complaints tbody tr")
    assert len(rows) == 1
    assert browser.text("#complaints tbody tr td.days-left") == "11"
    browser.click("#complaints tbody tr a")
    assert browser.current_url == complaint_url
    browser.type("#answer-text", "We are sending a new blender today.")
    browser.click("#answer-submit")
    assert browser.wait_for_attribute("#status", "data-status", "waiting_evaluation") == "waiting_evaluation"

    # The consumer evaluates.
    browser.sign_in(base, email)
    browser.open(complaint_url)
    assert browser.text("#answer") == "We are sending a new blender today."
    browser.click("#resolved")
    browser.type("#satisfaction_score", "5")
    browser.click("#evaluate-submit")
    assert browser.wait_for_attribute("#status", "data-status", "finalised_evaluated") == "finalised_evaluated"
    assert browser.text("#score") == "5"
    assert browser.all("#history li[data-action='evaluated']")  # the action's code; its name is translated:
    assert "Avaliada pelo consumidor" in browser.text("#history")
    assert browser.all("#message-text") == []  # closed: no more messages


def test_manager_reviews_a_refusal_from_the_queue(stack, browser):
    world = World(stack)
    company = world.company("Loja Recusa")
    agent = world.agent(company)
    _, consumer = world.consumer()
    complaint = world.file(consumer, company, region_code="BR-RJ", city="Niterói")
    world.complaints.RefuseComplaint(pb.RefuseComplaintRequest(complaint_id=complaint.id, reason_code="not_customer",
                                                               text="No such customer"), metadata=bearer(agent),
                                     timeout=10)
    manager_email = f"manager-{uuid.uuid4().hex[:8]}@example.test"
    world.actors.create("manager", jurisdiction="BR-RJ", email=manager_email)
    browser.sign_in(stack.gateway_url, manager_email)
    browser.open(stack.gateway_url + "/manager/refusals")
    row = f"#complaints tr[data-complaint-id='{complaint.id}']"
    assert browser.attribute(row, "data-status") == "under_refusal_review"
    browser.click(f"{row} a")
    browser.click("#reject")
    browser.type("#note", "The consumer showed the contract")
    browser.click("#review-submit")
    assert browser.wait_for_attribute("#status", "data-status", "waiting_company") == "waiting_company"
    assert browser.all("#history li[data-action='refusal_rejected']")
    assert "Recusa rejeitada" in browser.text("#history")
