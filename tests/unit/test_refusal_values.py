"""A refusal an adapter read itself (the gateway) classifies exactly like the same refusal in the SDK's words."""

import pytest

from openai_bridge.dify import failures
from openai_bridge.dify.failures import DifyFailure, DifyRefusal, FailureContext

PREFIX = "invoke app failed: request failed with status code: {} and respond with: {}"


@pytest.mark.parametrize(("status", "code", "message"), [
    (400, "invalid_param", "x is required"),
    (429, "too_many_requests", "slow"),
    (404, "not_found", "Conversation Not Exists."),
    (500, "unknown", "Internal Server Error"),
    (400, "app_unavailable", "off"),
])
def test_a_refusal_value_maps_like_its_text(status, code, message):
    as_value = DifyRefusal(DifyFailure(status, code, message))
    as_text = Exception(PREFIX.format(status, f'{{"code": "{code}", "message": "{message}", "status": {status}}}'))
    context = FailureContext(conversation_id="c-1", conversation_param="conversation_id")
    assert failures.failure_of(as_value) == DifyFailure(status, code, message)
    assert failures.from_exception(as_value, context).envelope() == failures.from_exception(as_text, context).envelope()


def test_an_app_key_dify_refuses_is_the_gateway_admins_to_fix():
    error = failures.from_exception(DifyRefusal(DifyFailure(401, "unauthorized", "Access token is invalid")))
    assert (error.status, error.code) == (502, "dify_app_key_invalid")
    assert "Access token is invalid" in error.message and "API key" in error.message


@pytest.mark.parametrize(("status", "want_status", "want_code"), [
    (413, 413, "file_too_large"), (415, 400, "unsupported_file"), (400, 502, "file_upload_failed"),
])
def test_a_refused_upload_keeps_its_status(status, want_status, want_code):
    error = failures.upload_failed(DifyRefusal(DifyFailure(status, "x", "no")), "messages[0].content[1]")
    assert (error.status, error.code) == (want_status, want_code)
    assert error.param == "messages[0].content[1]" or want_code == "file_upload_failed"


def test_an_unreachable_upload_address_is_not_the_plugins_advice():
    error = failures.upload_failed(DifyRefusal(DifyFailure(0, "", "cannot reach Dify: connection refused")), "p")
    assert error.code == "file_upload_failed" and "INTERNAL_FILES_URL" not in error.message
