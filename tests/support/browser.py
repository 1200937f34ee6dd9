"""A headless Chromium (Debian's chromium and chromium-driver) driven over the W3C WebDriver
protocol with plain HTTP calls, for the page journeys of the integration tests."""
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from .actors import PASSWORD

AVAILABLE = bool(shutil.which("chromedriver") and shutil.which("chromium"))
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


# chromedriver's errors for an element whose page was replaced (after a click, a redirect)
REPLACED_PAGE = ("stale element", "does not belong to the document")


def _read_until(read, wanted, timeout: float):
    """What `read()` returns once `wanted` accepts it, or its last value when `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if wanted(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


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
        """Finds the element and acts on it. A page replaced between the two (e.g. right after a
        click) is searched again until `timeout`: chromedriver says "stale element reference", or,
        when the page is replaced during the call, "Node ... does not belong to the document"."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call(method, f"/element/{self.find(css, timeout)}/{action}", payload)
            except AssertionError as error:
                if not any(marker in str(error) for marker in REPLACED_PAGE) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def text(self, css: str) -> str:
        return self.on_element(css, "GET", "text")

    def wait_for_text(self, css: str, expected: str, timeout: float = 10.0) -> str:
        """The element's text once it contains `expected` (the page after a click may still be loading)."""
        return _read_until(lambda: self.text(css), lambda text: expected in text, timeout)

    def attribute(self, css: str, name: str) -> str:
        return self.on_element(css, "GET", f"attribute/{name}")

    def wait_for_attribute(self, css: str, name: str, expected: str, timeout: float = 10.0) -> str:
        """The attribute's value once it equals `expected`, or the last value read at `timeout`:
        right after a click the old page may still be there, with the old value."""
        return _read_until(lambda: self.attribute(css, name), lambda value: value == expected, timeout)

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


@contextmanager
def chromium(log_dir: Path):
    """A chromedriver and one browser session, closed on exit."""
    from concilia.devstack import free_port
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}", f"--log-path={log_dir / 'chromedriver.log'}"],
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
        try:
            yield session
        finally:
            session.close()
    finally:
        driver.terminate()
        driver.wait(10)
