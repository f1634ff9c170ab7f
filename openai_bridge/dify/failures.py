"""The one place where Dify failures become OpenAI errors.

Dify reports failures three ways, all classified here:
- before the stream, an adapter that reads Dify's HTTP answer itself (the gateway) raises a DifyRefusal holding
  the failure as a value; the SDK raises a plain Exception whose text holds `request failed with status code: N and
  respond with: {"code", "message", "status"}` (Dify's inner API refused the call);
- during the stream, an `error` event `{code, status, message}` or a failed `workflow_finished` ends the run;
- the daemon or the SDK break the stream with a text of their own (`read app failed: ...`, `invocation exited
  without response ...`, `Failed to parse response: ...`).

Dify's `code` decides first; its message only refines a code (or stands in for a missing one). Messages say what
failed and, where a Dify setting or the app is the cause, what the admin should change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from openai_bridge.errors import OpenAIError

_STATUS_RE = re.compile(r"status code:\s*(\d{3})")
_RESPOND_WITH = "respond with:"
_TOOL_FILE_RE = re.compile(r"ToolFile \S* ?not found")
# The daemon closes an app stream DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT after it opened it (240 s by default,
# a total cap, streaming or not); the plugin then reads "read app failed: http: read on closed response body".
_READ_CAP_SECONDS = 240.0
_CLOSED_STREAM_MARKERS = ("closed response body", "failed to read")

RETRY_AFTER_RATE_LIMIT = "20"


@dataclass(frozen=True)
class DifyFailure:
    """What Dify said, normalised: HTTP-ish status (0 if unknown), Dify's error code, its message, the raw text."""

    status: int
    code: str
    message: str
    text: str = ""


@dataclass(frozen=True)
class FailureContext:
    """What the plugin knows about the failed call that Dify's own words may not say."""

    app_ran: bool = False  # events had arrived: a retry would run the app again
    conversation_id: str | None = None  # the Dify conversation the call continued
    conversation_param: str | None = None  # where the client named it, when the client did
    elapsed: float = 0.0  # seconds since the call was made
    conversational: bool | None = None  # the app's form is a chat-type app's (None: unknown)
    runs_text_generators: bool = False  # the Dify API called runs text-generator apps (ports.DifyPort)


class DifyRefusal(Exception):
    """Dify refused a call, as an adapter that reads Dify's status and error JSON itself knows it: no text to parse."""

    def __init__(self, failure: DifyFailure) -> None:
        super().__init__(failure.text or failure.message)
        self.failure = failure


def failure_of(exc: BaseException) -> DifyFailure:
    """What Dify said, from a DifyRefusal's value or from the text of any other exception (the SDK's)."""
    return exc.failure if isinstance(exc, DifyRefusal) else parse_exception_text(str(exc))


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
    return DifyFailure(status, code, message.strip(), text)


def from_exception(exc: BaseException, context: FailureContext = FailureContext()) -> OpenAIError:
    """Classify an exception raised by a Dify backwards invocation (app call)."""
    return classify(failure_of(exc), context)


def from_error_event(event: dict[str, Any]) -> OpenAIError:
    status = event.get("status")
    failure = DifyFailure(
        status if isinstance(status, int) else 0,
        str(event.get("code") or ""),
        str(event.get("message") or event.get("error") or ""),
    )
    return classify(failure, FailureContext(app_ran=True))


def workflow_failed(error: object) -> OpenAIError:
    message = str(error) if error else "the workflow failed without saying why"
    return upstream(f"The Dify app run failed: {message}", code="app_run_failed")


def human_input_required(event: dict[str, Any]) -> OpenAIError:
    given = event.get("data")
    data: dict[str, Any] = given if isinstance(given, dict) else {}
    listed = data.get("paused_nodes")  # workflow_paused names the nodes it waits at
    paused: list[Any] = listed if isinstance(listed, list) else []
    node = data.get("node_title") or data.get("title") or data.get("node_id") or next(iter(paused), "")
    where = f" at its node '{str(node)[:80]}'" if node else ""
    return upstream(
        f"The Dify app paused{where} to wait for a person to fill in a form (a Human Input node). An OpenAI client "
        "cannot answer it, so this request ends here; the run waits in Dify's logs. Remove the Human Input node "
        "from the app's path, or answer the form in Dify.", code="human_input_required")


def upstream(message: str, code: str = "upstream_error", status: int = 502, retry: bool = False) -> OpenAIError:
    return OpenAIError(status, message, "upstream_error", None, code, retryable=retry)


def is_unknown_conversation(failure: DifyFailure) -> bool:
    """Dify refused the call's conversation id as unknown (deleted, another app's, or another run user's).

    Dify 1.14 raises a message-less ConversationNotExistsError, which its inner API answers with a 400 and an
    empty message; other versions word it "Conversation Not Exists." (with a 404 on the Service API).
    """
    lowered = failure.message.lower()
    named = "conversation" in lowered and "not exist" in lowered
    return failure.status in {400, 404} and (named or (not failure.message and failure.code == "invalid_param"))


def unknown_conversation(conversation_id: str, param: str | None) -> OpenAIError:
    return OpenAIError(
        404,
        f"Dify does not know the conversation '{conversation_id}': it was deleted from the app's logs, belongs to "
        "another app, or was made before a Dify upgrade changed the user plugin calls run as. Leave the conversation "
        "id out to start a new conversation.",
        "invalid_request_error", param, "conversation_not_found")


def classify(failure: DifyFailure, context: FailureContext = FailureContext()) -> OpenAIError:
    if context.conversation_id and not context.app_ran and is_unknown_conversation(failure):
        return unknown_conversation(context.conversation_id, context.conversation_param)
    return (_by_code(failure, context) or _by_status(failure, context) or _by_text(failure, context)
            or upstream(f"Dify failed: {failure.message or 'it gave no reason'}", retry=not context.app_ran))


def _shown(failure: DifyFailure) -> str:
    return failure.message or "it gave no reason"


def _rate_limited(failure: DifyFailure) -> OpenAIError:
    return OpenAIError(429, f"Dify is rate limiting this app: {_shown(failure)}", "rate_limit_error", None,
                       "rate_limit_exceeded", {"Retry-After": RETRY_AFTER_RATE_LIMIT}, retryable=True)


def _by_code(failure: DifyFailure, context: FailureContext) -> OpenAIError | None:
    code, shown = failure.code, _shown(failure)
    if code in {"too_many_requests", "rate_limit_error"}:
        return _rate_limited(failure)
    if code == "provider_quota_exceeded":
        return OpenAIError(429, f"The Dify app's model provider quota is used up: {shown}. Top up the provider's "
                                "quota or credits in Dify (Settings, Model Provider).", "insufficient_quota", None,
                           "insufficient_quota")
    if code in {"app_unavailable", "not_chat_app", "provider_not_initialize", "model_currently_not_support"}:
        return OpenAIError(503, f"The Dify app cannot run ({code}): {shown}. Check the app's model and provider "
                                "settings in Dify.", "server_error", None, code)
    if code == "not_found":
        return _not_found(failure)
    if code == "unauthorized":  # only the Service API has app keys: the gateway holds one Dify no longer accepts
        return upstream(f"Dify refused the app API key this gateway holds for the model ({shown}). Ask the "
                        "gateway's admin to set the app's current API key (Dify: the app's API Access page).",
                        code="dify_app_key_invalid")
    if code == "completion_request_error":
        # Dify answers 400 for it, but it is the app's model call that failed, not the client's request.
        return upstream(f"The Dify app's model call failed: {shown}", code="model_error")
    if code == "invalid_param":
        return _invalid_param(failure, context)
    if code == "internal_server_error":
        return upstream(f"Dify failed while running the app: {shown}", retry=not context.app_ran)
    if code == "unknown" and failure.status == 500 and not context.app_ran:
        return _internal_error_before_run(context)
    return None


def _invalid_param(failure: DifyFailure, context: FailureContext) -> OpenAIError:
    message, lowered = failure.message, failure.message.lower()
    if lowered.startswith("run failed"):
        return upstream(f"The Dify app run failed: {message.partition(':')[2].strip() or message}",
                        code="app_run_failed")
    if lowered == "app not found":  # Dify's plugin path raises it as a ValueError: a 400, not a 404
        return _not_found(failure)
    if "unexpected app type" in lowered:
        return upstream("Dify's plugin API cannot run this app's type ('unexpected app type'). Serve a chatbot, "
                        "agent, chatflow or workflow app through this endpoint instead.", code="app_mode_unsupported")
    if _TOOL_FILE_RE.search(message):
        return upstream(
            f"Dify refused the file the plugin uploaded for this message ({message}). Dify versions that run "
            "plugin calls as a per-app user only let a run load files of that same user. Send the file as an "
            "https URL instead, which Dify fetches itself.", code="dify_file_refused")
    if lowered.startswith("reached maximum retries") and "url" in lowered:
        return OpenAIError(400, f"Dify could not download a file of this message: {message}. Make the URL "
                                "reachable from the Dify server, or send the file inline as a data URL.",
                           "invalid_request_error", None, "file_url_unreachable")
    return OpenAIError(400, f"Dify rejected the request: {_shown(failure)}", "invalid_request_error", None,
                       "invalid_param")


def _not_found(failure: DifyFailure) -> OpenAIError:
    if "app" in failure.message.lower():
        return OpenAIError(404, f"Dify cannot find the endpoint's app ({failure.message}): it was deleted or is in "
                                "another workspace. Ask the Dify admin to pick an existing app in the endpoint's "
                                "settings.", "invalid_request_error", None, "app_not_found")
    return OpenAIError(404, f"Dify could not find it: {_shown(failure)}", "invalid_request_error", None,
                       "not_found")


def _internal_error_before_run(context: FailureContext) -> OpenAIError:
    if context.runs_text_generators:
        return upstream("Dify failed with an internal error before the app started (HTTP 500). Dify's API server "
                        "log says what failed.", code="dify_internal_error")
    # Dify reads args["query"] for text-generator apps on the plugin path and fails with a KeyError, which reaches
    # the plugin as a generic 500: the form is the only sign of the app's type (chat-type apps carry an opening
    # statement, text generators and workflows do not, and a workflow would have started).
    advice = ("Dify cannot run text generator (completion) apps through the plugin API: it fails with this error. "
              "Serve a chatflow, chatbot or workflow app instead (a workflow with an LLM node does what a text "
              "generator does).")
    if context.conversational is False:
        return upstream(f"Dify failed with an internal error before the app started (HTTP 500). This app is a "
                        f"text generator: {advice}", code="app_mode_unsupported")
    return upstream(f"Dify failed with an internal error before the app started (HTTP 500). If this app is a text "
                    f"generator: {advice} Otherwise Dify's API server log says what failed.",
                    code="dify_internal_error")


def _by_status(failure: DifyFailure, context: FailureContext) -> OpenAIError | None:
    status = failure.status
    if status == 429:
        return _rate_limited(failure)
    if status == 404:
        return _not_found(failure)
    if status == 413:
        return OpenAIError(413, f"Dify refused the payload as too large: {_shown(failure)}", "invalid_request_error",
                           None, "payload_too_large")
    if 400 <= status < 500:
        return OpenAIError(400, f"Dify rejected the request: {_shown(failure)}", "invalid_request_error", None,
                           failure.code or "invalid_param")
    return None


def _by_text(failure: DifyFailure, context: FailureContext) -> OpenAIError | None:
    """The daemon's and the SDK's own wording, for failures that carry no Dify code."""
    lowered = (failure.text or failure.message).lower()
    if "read app failed" in lowered:
        if "context canceled" in lowered:
            return upstream("The app's stream was cancelled because the client went away.")
        if any(marker in lowered for marker in _CLOSED_STREAM_MARKERS) or context.elapsed >= _READ_CAP_SECONDS - 5:
            return OpenAIError(
                504,
                f"Dify's plugin daemon closed the app's stream after {context.elapsed:.0f} s. It caps every app "
                "call made by a plugin at DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT (240000 ms by default), streaming "
                "or not. Raise it in the plugin daemon's environment (together with PLUGIN_MAX_EXECUTION_TIMEOUT), "
                "or make the app answer sooner.", "server_error", None, "upstream_timeout")
        return upstream(f"The app's stream from Dify broke: {_clip(failure.message)}")
    if "exited without response" in lowered:
        return OpenAIError(504, "Dify sent nothing for 250 s, the longest the plugin SDK waits for the next part of "
                                "an answer. The app is stuck or too slow; check its run in Dify's logs.",
                           "server_error", None, "upstream_timeout")
    if "failed to parse response" in lowered or "validation error" in lowered:
        # The SDK's parse failure quotes pydantic's report, which means nothing to a client.
        return upstream("Dify sent a part of the app's answer that is not a JSON object; the plugin cannot read it.")
    if failure.status == 0 and ("timed out" in lowered or "timeout" in lowered):
        return OpenAIError(504, f"Dify did not answer in time: {_clip(failure.message)}", "server_error", None,
                           "upstream_timeout")
    return None


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------- file uploads

_UPLOAD_STATUS_RE = re.compile(r"upload file failed, status code: (\d{3})")


def upload_failed(exc: BaseException, param: str) -> OpenAIError:
    """Uploading a file of the request to Dify (`session.file.upload`, or the gateway's /files/upload) failed."""
    if isinstance(exc, DifyRefusal):
        return _upload_refused(exc.failure.status, param, exc.failure.message)
    text = str(exc)
    lowered = text.lower()
    if "no scheme supplied" in lowered or "invalid url '/files/" in lowered:
        return upstream(
            f"Dify could not take the file in {param}: Dify's FILES_URL and INTERNAL_FILES_URL settings are both "
            "empty, so the upload address it gives plugins has no host. Set FILES_URL (the address browsers reach "
            "Dify at) or INTERNAL_FILES_URL (an address the plugin daemon reaches, for example http://api:5001) in "
            "the Dify API's environment and restart it.", code="dify_files_url_not_set")
    if "connection" in lowered or "max retries exceeded" in lowered or "timed out" in lowered:
        return upstream(
            f"The plugin could not reach Dify's file upload address for {param}. Set INTERNAL_FILES_URL in the Dify "
            "API's environment to an address the plugin daemon can reach (for example http://api:5001), then "
            "restart it.", code="dify_files_url_unreachable")
    status = _UPLOAD_STATUS_RE.search(text)
    return _upload_refused(int(status.group(1)) if status else 0, param)


def _upload_refused(status: int, param: str, message: str = "") -> OpenAIError:
    if status == 413:
        return OpenAIError(413, f"Dify refused the file in {param} as too large (its UPLOAD_FILE_SIZE_LIMIT and "
                                "UPLOAD_IMAGE_FILE_SIZE_LIMIT settings).", "invalid_request_error", param,
                           "file_too_large")
    if status == 415:
        return OpenAIError(400, f"Dify does not accept the type of the file in {param}.", "invalid_request_error",
                           param, "unsupported_file")
    reason = f" (HTTP {status})" if status else ""
    said = f": {message}" if message else "."
    return upstream(f"Dify refused to store the file in {param}{reason}{said}", code="file_upload_failed")
