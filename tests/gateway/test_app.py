"""The WSGI app's own part: what it hands the core from the request as the server delivered it."""

from __future__ import annotations

from .conftest import KEYS
from .fake_service_api import FakeApp


def test_a_lower_case_method_is_not_get(gateway):
    # Found by tests/fuzz/test_fuzz_gateway.py: werkzeug upper-cases request.method, so "get /v1/models" listed the
    # models, where the plugin answers 405 (methods are case-sensitive).
    served = gateway({"app-key-chat": FakeApp("chat")})
    answer = served.client.open("/v1/models", method="get", headers={"Authorization": f"Bearer {KEYS[0]}"})
    assert answer.status_code == 405, answer.get_data(as_text=True)
    assert answer.json["error"]["code"] == "method_not_allowed"
    assert answer.headers["Allow"]
    assert served.client.get("/v1/models", headers={"Authorization": f"Bearer {KEYS[0]}"}).status_code == 200
