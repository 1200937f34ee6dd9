"""Signing in to the gateway's pages with a plain HTTP client (session cookie and form token)."""
import re

import requests

from support.actors import PASSWORD


def form_token(response: requests.Response) -> str:
    assert response.status_code == 200, response.text[:500]
    return re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', response.text)[1]


def signed_in(stack, email: str) -> requests.Session:
    browser = requests.Session()
    token = form_token(browser.get(stack.gateway_url + "/login", timeout=10))
    response = browser.post(stack.gateway_url + "/login", data={"email": email, "password": PASSWORD,
                                                                "csrf_token": token},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return browser
