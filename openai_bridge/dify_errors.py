"""The one place where Dify failures become OpenAI errors.

Dify reports failures two ways: before the stream, the SDK raises a plain Exception whose text holds
`request failed with status code: N and respond with: {"code", "message", "status"}`; during the stream, an `error`
event `{code, status, message}` (or a failed `workflow_finished`) ends the run. Both are classified here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import OpenAIError

_STATUS_RE = re.compile(r"status code:\s*(\d{3})")
_RESPOND_WITH = "respond with:"

NO_RETRY = {"x-should-retry": "false"}


@dataclass(frozen=True)
class DifyFailure:
    """What Dify said, normalised: HTTP-ish status (0 if unknown), Dify's error code and its message."""

    status: int
    code: str
    message: str


def parse_exception_text(text: str) -> DifyFailure:
    status_match = _STATUS_RE.search(text)
    status = int(status_match.group(1)) if status_match else 0
    code, message = "", text
    at = text.find(_RESPOND_WITH)
    if at >= 0:
        payload = text[at + len(_RESPOND_WITH):].strip()
        try:
            body = json.loads(payload)
        except ValueError:
            message = payload or text
        else:
            if isinstance(body, dict):
                code = str(body.get("code") or "")
                message = str(body.get("message") or "")
                if not status and isinstance(body.get("status"), int):
                    status = body["status"]
            else:
                message = payload
    return DifyFailure(status, code, message.strip())


def from_exception(exc: BaseException, *, app_ran: bool = False) -> OpenAIError:
    """Classify an exception raised by a Dify backwards invocation."""
    return classify(parse_exception_text(str(exc)), app_ran=app_ran)


def from_error_event(event: dict) -> OpenAIError:
    status = event.get("status")
    failure = DifyFailure(
        status if isinstance(status, int) else 0,
        str(event.get("code") or ""),
        str(event.get("message") or event.get("error") or ""),
    )
    return classify(failure, app_ran=True)


def workflow_failed(error: object) -> OpenAIError:
    message = str(error) if error else "the workflow failed without saying why"
    return _upstream(f"The Dify app run failed: {message}", code="app_run_failed")


def _upstream(message: str, code: str = "upstream_error", status: int = 502) -> OpenAIError:
    return OpenAIError(status, message, "upstream_error", None, code, dict(NO_RETRY))


def classify(failure: DifyFailure, *, app_ran: bool) -> OpenAIError:
    code, status, message = failure.code, failure.status, failure.message
    lowered = message.lower()
    shown = message or "(Dify gave no message)"

    if code in {"too_many_requests", "rate_limit_error"} or status == 429:
        return OpenAIError(429, f"Dify is rate limiting this app: {shown}", "rate_limit_error", None,
                           "rate_limit_exceeded", {"Retry-After": "20"})
    if code == "provider_quota_exceeded" or "quota" in lowered and "exceed" in lowered:
        return OpenAIError(429, f"The Dify app's model provider quota is exhausted: {shown}", "insufficient_quota",
                           None, "insufficient_quota", dict(NO_RETRY))
    if code in {"app_unavailable", "not_chat_app", "provider_not_initialize", "model_currently_not_support"}:
        return OpenAIError(503, f"The Dify app is unavailable ({code}): {shown}", "server_error", None,
                           code, {**NO_RETRY, "Retry-After": "60"})
    if code == "not_found" or status == 404 or lowered in {"app not found", "conversation not exists"}:
        return OpenAIError(404, f"Dify could not find it: {shown}", "invalid_request_error", None, "not_found")
    if code == "completion_request_error":
        # Dify answers 400 for it, but it is the app's model call that failed, not the client's request.
        return _upstream(f"The Dify app's model call failed: {shown}", code="model_error")
    if lowered.startswith("run failed"):
        return _upstream(f"The Dify app run failed: {message.partition(':')[2].strip() or shown}",
                         code="app_run_failed")
    if "exited without response" in lowered or "timeout" in lowered or "timed out" in lowered:
        return OpenAIError(504, f"Dify did not answer in time: {shown}", "server_error", None, "upstream_timeout",
                           dict(NO_RETRY))
    if status == 500 and "query" in lowered and not app_ran:
        # Dify 1.x reads args["query"] for text-generator apps on the plugin path and fails with a 500.
        return _upstream(
            "Dify could not run this app through the plugin API. Text generator (completion) apps fail on this "
            f"path in Dify itself; use a chatbot, agent, chatflow or workflow app instead. Dify said: {shown}",
            code="app_mode_unsupported",
        )
    if code == "invalid_param" or status == 400:
        return OpenAIError(400, f"Dify rejected the request: {shown}", "invalid_request_error", None,
                           code or "invalid_param", dict(NO_RETRY) if app_ran else {})
    if status == 413 or code in {"file_too_large", "request_entity_too_large"}:
        return OpenAIError(413, f"Dify refused the payload as too large: {shown}", "invalid_request_error", None,
                           code or "payload_too_large")
    return _upstream(f"Dify failed: {shown}")
