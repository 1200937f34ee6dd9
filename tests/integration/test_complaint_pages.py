"""The main complaint journeys clicked through in real headless Chromium (Debian's chromium and
chromium-driver), driven over the W3C WebDriver protocol with plain HTTP calls: a consumer registers,
files with an attachment, follows and messages; the company agent works the inbox and answers; the
consumer evaluates; a manager reviews a refusal."""
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from support.actors import PASSWORD
from support.ids import new_cpf
from support.complaints import PDF, World, module_stack

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not shutil.which("chromedriver") or not shutil.which("chromium"),
                                 reason="needs Debian's chromium and chromium-driver")]
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


class Browser:
    """Just enough WebDriver: open pages, find by CSS, type, click, read text."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"
        response = requests.post(f"{self.url}/session", json={"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {
                "binary": shutil.which("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}}}},
            timeout=60).json()
        self.session = f"{self.url}/session/{response['value']['sessionId']}"

    def _call(self, method: str, path: str, payload=None):
        response = requests.request(method, self.session + path, json=payload, timeout=30).json()
        value = response.get("value")
        if isinstance(value, dict) and "error" in value:
            raise AssertionError(f"webdriver {path}: {value['error']}: {value.get('message', '')[:300]}")
        return value

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def find(self, css: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT_KEY]
            except AssertionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no element {css!r} on {self.current_url}:\n{self.text('body')[:2000]}")
                time.sleep(0.1)

    def all(self, css: str) -> list[str]:
        return [e[ELEMENT_KEY] for e in self._call("POST", "/elements", {"using": "css selector", "value": css})]

    def type(self, css: str, text: str) -> None:
        self.on_element(css, "POST", "value", {"text": text})

    def click(self, css: str) -> None:
        self.on_element(css, "POST", "click", {})

    def select(self, css: str, option_text: str) -> None:
        for option in self._call("POST", f"/element/{self.find(css)}/elements",
                                 {"using": "css selector", "value": "option"}):
            if option_text in self._call("GET", f"/element/{option[ELEMENT_KEY]}/text"):
                self._call("POST", f"/element/{option[ELEMENT_KEY]}/click", {})
                return
        raise AssertionError(f"no option {option_text!r} in {css}")

    def on_element(self, css: str, method: str, action: str, payload=None, timeout: float = 10.0):
        """Finds the element and acts on it. A page replaced between the two ("stale element
        reference", e.g. right after a click) is searched again until `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call(method, f"/element/{self.find(css, timeout)}/{action}", payload)
            except AssertionError as error:
                if "stale element" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def text(self, css: str) -> str:
        return self.on_element(css, "GET", "text")

    def wait_for_text(self, css: str, expected: str, timeout: float = 10.0) -> str:
        """The element's text once it contains `expected` (the page after a click may still be loading)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text(css)
            if expected in text or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def attribute(self, css: str, name: str) -> str:
        return self.on_element(css, "GET", f"attribute/{name}")

    @property
    def current_url(self) -> str:
        return self._call("GET", "/url")

    def sign_in(self, base: str, email: str, password: str = PASSWORD) -> None:
        self._call("DELETE", "/cookie")
        self.open(base + "/login")
        self.type("#email", email)
        self.type("#password", password)
        self.click("form button[type=submit]")
        # The signed-in page (it has the sign-out form): "header nav" alone is on the login page too,
        # and an open() issued before the login's redirect lands would be overtaken by it.
        self.find("form[action$='/logout']")

    def close(self) -> None:
        requests.delete(self.session, timeout=30)


@pytest.fixture(scope="module")
def stack(start_stack):
    with module_stack(start_stack, ["identity", "company_registry", "complaint"], True) as (stack, _amqp_uri):
        yield stack


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from concilia.devstack import free_port
    port = free_port()
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    driver = subprocess.Popen(["chromedriver", f"--port={port}", f"--log-path={log}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/status", timeout=1).json()["value"]["ready"]:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        session = Browser(port)
        yield session
        session.close()
    finally:
        driver.terminate()
        driver.wait(10)


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
    assert browser.attribute("#status", "data-status") == "waiting_company"
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
    assert browser.attribute("#status", "data-status") == "waiting_evaluation"

    # The consumer evaluates.
    browser.sign_in(base, email)
    browser.open(complaint_url)
    assert browser.text("#answer") == "We are sending a new blender today."
    browser.click("#resolved")
    browser.type("#satisfaction_score", "5")
    browser.click("#evaluate-submit")
    assert browser.attribute("#status", "data-status") == "finalised_evaluated"
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
    assert browser.attribute("#status", "data-status") == "waiting_company"
    assert browser.all("#history li[data-action='refusal_rejected']")
    assert "Recusa rejeitada" in browser.text("#history")
