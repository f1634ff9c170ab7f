"""Every way Dify fails, mapped to what OpenAI clients expect."""

import pytest

from openai_bridge import dify_errors

PREFIX = "invoke app failed: request failed with status code: {} and respond with: {}"


@pytest.mark.parametrize(("status", "body", "want_status", "want_code"), [
    (400, '{"code": "invalid_param", "message": "x is required", "status": 400}', 400, "invalid_param"),
    (400, '{"code": "provider_quota_exceeded", "message": "q", "status": 400}', 429, "insufficient_quota"),
    (429, '{"code": "too_many_requests", "message": "slow", "status": 429}', 429, "rate_limit_exceeded"),
    (429, '{"code": "rate_limit_error", "message": "slow", "status": 429}', 429, "rate_limit_exceeded"),
    (404, '{"code": "not_found", "message": "App not found", "status": 404}', 404, "not_found"),
    (400, '{"code": "app_unavailable", "message": "off", "status": 400}', 503, "app_unavailable"),
    (400, '{"code": "provider_not_initialize", "message": "no creds", "status": 400}', 503,
     "provider_not_initialize"),
    (500, '{"code": "unknown", "message": "Internal Server Error", "status": 500}', 502, "upstream_error"),
    (500, '{"message": "\'query\'", "status": 500}', 502, "app_mode_unsupported"),
    (400, '{"code": "bad_request", "message": "", "status": 400}', 400, "bad_request"),
])
def test_exception_mapping(status, body, want_status, want_code):
    err = dify_errors.from_exception(Exception(PREFIX.format(status, body)))
    assert (err.status, err.code) == (want_status, want_code)
    envelope = err.envelope()["error"]
    assert set(envelope) == {"message", "type", "param", "code"}
    assert envelope["message"]


def test_rate_limit_has_retry_after_and_others_stop_retries():
    limited = dify_errors.from_exception(Exception(PREFIX.format(429, '{"code": "too_many_requests"}')))
    assert "Retry-After" in limited.headers and "x-should-retry" not in limited.headers
    failed = dify_errors.from_error_event({"code": "completion_request_error", "message": "LLM down"})
    assert failed.status == 502 and failed.headers["x-should-retry"] == "false"
    assert "LLM down" in failed.message


def test_plain_exception_texts():
    assert dify_errors.from_exception(Exception("missing query")).status == 502
    timeout = dify_errors.from_exception(Exception("invocation exited without response after 250 seconds"))
    assert timeout.status == 504
    garbage = dify_errors.from_exception(Exception("status code: 500 and respond with: <html>oops"))
    assert garbage.status == 502 and "oops" in garbage.message


def test_run_failed_event():
    err = dify_errors.from_error_event({"code": "invalid_param", "message": "Run failed: node X broke"})
    assert err.status == 502 and err.code == "app_run_failed" and "node X broke" in err.message


def test_model_call_failure_is_upstream_even_when_dify_says_400():
    err = dify_errors.from_error_event({"code": "completion_request_error", "message": "model went away",
                                        "status": 400})
    assert (err.status, err.code) == (502, "model_error") and "model went away" in err.message
