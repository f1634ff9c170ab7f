"""Every way Dify fails, mapped to what OpenAI clients expect: Dify's code first, then what the plugin knows."""

import json
from pathlib import Path

import pytest

from openai_bridge.dify import failures
from openai_bridge.dify.failures import FailureContext

PREFIX = "invoke app failed: request failed with status code: {} and respond with: {}"
RECORDINGS = Path(__file__).resolve().parents[1] / "golden" / "recordings"


def recorded_refusal(name: str) -> Exception:
    """The exception the SDK raises for a recorded HTTP error of Dify's inner API (`<case>.httpNNN.json`)."""
    status = int(name.rsplit(".http", 1)[1][:3])
    return Exception(PREFIX.format(status, (RECORDINGS / name).read_text().strip()))


@pytest.mark.parametrize(("status", "body", "want_status", "want_code"), [
    (400, '{"code": "invalid_param", "message": "x is required", "status": 400}', 400, "invalid_param"),
    (400, '{"code": "provider_quota_exceeded", "message": "q", "status": 400}', 429, "insufficient_quota"),
    (429, '{"code": "too_many_requests", "message": "slow", "status": 429}', 429, "rate_limit_exceeded"),
    (429, '{"code": "rate_limit_error", "message": "slow", "status": 429}', 429, "rate_limit_exceeded"),
    (404, '{"code": "not_found", "message": "App not found", "status": 404}', 404, "app_not_found"),
    (400, '{"code": "invalid_param", "message": "app not found", "status": 400}', 404, "app_not_found"),
    (404, '{"code": "not_found", "message": "Message Not Exists.", "status": 404}', 404, "not_found"),
    (400, '{"code": "app_unavailable", "message": "off", "status": 400}', 503, "app_unavailable"),
    (400, '{"code": "provider_not_initialize", "message": "no creds", "status": 400}', 503,
     "provider_not_initialize"),
    (500, '{"code": "unknown", "message": "Internal Server Error", "status": 500}', 502, "dify_internal_error"),
    (400, '{"code": "bad_request", "message": "", "status": 400}', 400, "bad_request"),
    (413, '{"code": "file_too_large", "message": "big", "status": 413}', 413, "payload_too_large"),
    (400, '{"code": "invalid_param", "message": "unexpected app type", "status": 400}', 502, "app_mode_unsupported"),
])
def test_exception_mapping(status, body, want_status, want_code):
    err = failures.from_exception(Exception(PREFIX.format(status, body)))
    assert (err.status, err.code) == (want_status, want_code)
    envelope = err.envelope()["error"]
    assert set(envelope) == {"message", "type", "param", "code"}
    assert envelope["message"]


@pytest.mark.parametrize("message", ["the tool timed out", "timeout while reading", "quota exceeded for input"])
def test_difys_code_decides_before_its_message(message):
    # An invalid_param is the request's fault whatever words it uses: not a 504 for "timeout", not a 429 for "quota".
    body = json.dumps({"code": "invalid_param", "message": message, "status": 400})
    err = failures.from_exception(Exception(PREFIX.format(400, body)))
    assert (err.status, err.code) == (400, "invalid_param")


def test_retries_are_offered_only_where_they_can_help():
    limited = failures.from_exception(Exception(PREFIX.format(429, '{"code": "too_many_requests"}')))
    assert limited.headers["Retry-After"] and "x-should-retry" not in limited.response_headers()
    quota = failures.from_exception(Exception(PREFIX.format(400, '{"code": "provider_quota_exceeded"}')))
    assert quota.response_headers()["x-should-retry"] == "false" and "Retry-After" not in quota.response_headers()
    unavailable = failures.from_exception(Exception(PREFIX.format(400, '{"code": "app_unavailable"}')))
    assert unavailable.response_headers() == {"x-should-retry": "false"}  # final until an admin acts
    mid_run = failures.from_error_event({"code": "invalid_param", "message": "bad value", "status": 400})
    assert mid_run.response_headers()["x-should-retry"] == "false"
    failed = failures.from_error_event({"code": "completion_request_error", "message": "LLM down"})
    assert failed.status == 502 and failed.response_headers()["x-should-retry"] == "false"
    assert "LLM down" in failed.message
    away = failures.from_exception(Exception("status code: 502 and respond with: <html>bad gateway"))
    assert away.status == 502 and "x-should-retry" not in away.response_headers()  # Dify was briefly away


def test_plain_exception_texts():
    timeout = failures.from_exception(Exception("invocation exited without response after 250 seconds"))
    assert timeout.status == 504 and "250 s" in timeout.message
    garbage = failures.from_exception(Exception("status code: 500 and respond with: <html>oops"))
    assert garbage.status == 502 and "oops" in garbage.message


def test_run_failed_event():
    err = failures.from_error_event({"code": "invalid_param", "message": "Run failed: node X broke"})
    assert err.status == 502 and err.code == "app_run_failed" and "node X broke" in err.message


def test_model_call_failure_is_upstream_even_when_dify_says_400():
    err = failures.from_error_event({"code": "completion_request_error", "message": "model went away",
                                        "status": 400})
    assert (err.status, err.code) == (502, "model_error") and "model went away" in err.message


# ---------------------------------------------------------------- failures recorded from a real Dify 1.14.1


def test_text_generator_app_is_named_from_its_form():
    refusal = recorded_refusal("e_completion_chat.http500.json")
    parameters = json.loads((RECORDINGS / "fetch_app.e_completion.json").read_text())["data"]["data"]
    assert parameters["opening_statement"] is None  # what tells a text generator from a chat-type app
    err = failures.from_exception(refusal, FailureContext(conversational=False))
    assert (err.status, err.code) == (502, "app_mode_unsupported")
    assert "text generator" in err.message and "chatflow" in err.message and "workflow" in err.message
    unsure = failures.from_exception(refusal, FailureContext(conversational=None))
    assert unsure.code == "dify_internal_error" and "If this app is a text generator" in unsure.message
    assert "Internal Server Error" not in err.message  # Dify's word for it says nothing


def test_unknown_conversation_named_by_the_client():
    refusal = recorded_refusal("explicit_unknown_conversation_header.http400.json")
    failure = failures.parse_exception_text(str(refusal))
    assert failures.is_unknown_conversation(failure)
    cid = "00000000-0000-0000-0000-000000000001"
    err = failures.from_exception(refusal, FailureContext(conversation_id=cid,
                                                             conversation_param="X-Dify-Conversation-Id"))
    assert (err.status, err.code, err.param) == (404, "conversation_not_found", "X-Dify-Conversation-Id")
    assert cid in err.message and "does not know" in err.message and "gave no" not in err.message
    # The same empty 400 without a conversation in the call is some other refusal, and says so plainly.
    other = failures.from_exception(refusal)
    assert other.status == 400 and "no reason" in other.message


def test_a_remote_file_dify_cannot_fetch():
    err = failures.from_exception(recorded_refusal("c_image_https_url.http400.json"))
    assert (err.status, err.code) == (400, "file_url_unreachable")
    assert "https://example.com/cat.png" in err.message and "data URL" in err.message


def test_agent_blocking_refusal_and_model_errors_recorded_with_a_model():
    err = failures.from_exception(recorded_refusal("llm/i_chatflow_llm_error_blocking.http400.json"))
    assert err.code == "app_run_failed" and "rate limit" in err.message


def test_the_240_second_cap_on_app_streams():
    cut = Exception("read app failed: http: read on closed response body\nfailed to read system header")
    err = failures.from_exception(cut, FailureContext(app_ran=True, elapsed=240.2))
    assert (err.status, err.code) == (504, "upstream_timeout")
    assert "DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT" in err.message and "240 s" in err.message
    assert "streaming or not" in err.message
    late = failures.from_exception(Exception("read app failed: unexpected EOF"),
                                      FailureContext(app_ran=True, elapsed=239.0))
    assert late.code == "upstream_timeout"
    early = failures.from_exception(Exception("read app failed: unexpected EOF"),
                                       FailureContext(app_ran=True, elapsed=3.0))
    assert (early.status, early.code) == (502, "upstream_error") and "broke" in early.message


def test_a_tool_file_dify_refuses():
    body = '{"code":"invalid_param","message":"ToolFile 2d3963f1-f64c-409b-ad9c-0b5e2134e8a1 not found","status":400}'
    err = failures.from_exception(Exception(PREFIX.format(400, body)))
    assert (err.status, err.code) == (502, "dify_file_refused") and "https URL" in err.message


def test_an_event_the_sdk_cannot_parse_reads_without_pydantic():
    text = ("Failed to parse response: 1 validation error for BackwardsInvocationResponseEvent\ndata\n  Input should "
            "be a valid dictionary [type=dict_type, input_value=[1, 2], input_type=list]")
    err = failures.from_exception(Exception(text), FailureContext(app_ran=True))
    assert err.status == 502 and "validation" not in err.message and "dict" not in err.message


@pytest.mark.parametrize(("text", "want_status", "want_code", "names"), [
    ("Invalid URL '/files/upload/for-plugin?timestamp=1&nonce=2&sign=3': No scheme supplied. Perhaps you meant "
     "https:///files/upload/for-plugin?timestamp=1?", 502, "dify_files_url_not_set", "FILES_URL"),
    ("HTTPConnectionPool(host='localhost', port=5001): Max retries exceeded with url: /files/upload/for-plugin "
     "(Caused by NewConnectionError('Connection refused'))", 502, "dify_files_url_unreachable", "INTERNAL_FILES_URL"),
    ("upload file failed, status code: 413, response: {}", 413, "file_too_large", "UPLOAD_FILE_SIZE_LIMIT"),
    ("upload file failed, status code: 415, response: {}", 400, "unsupported_file", "type"),
    ("upload file failed, status code: 403, response: {}", 502, "file_upload_failed", "HTTP 403"),
])
def test_upload_failures_name_their_cause(text, want_status, want_code, names):
    err = failures.upload_failed(Exception(text), "messages[0].content[1]")
    assert (err.status, err.code) == (want_status, want_code)
    assert names in err.message and "messages[0].content[1]" in err.message
    assert "sign=" not in err.message and "localhost" not in err.message  # nothing of Dify's internals leaks
