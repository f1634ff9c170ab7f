"""The core's DifyPort over Dify's Service API: each model's app reached with its app API key.

The endpoint follows the app's mode (`/info`): chat-type apps take `/chat-messages`, text generators
`/completion-messages` (which the plugin path cannot run), workflows `/workflows/run`. Every call streams, runs as
the user the core names (Dify's logs and conversation ownership then show real users), and attaches the query's
files itself. A refusal is raised as a DifyRefusal value before the first event; a client that goes away closes
the event iterator, which stops the run in Dify (`.../{task_id}/stop`) unless it had already ended.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from gateway.config import GatewayConfig, Model
from gateway.sse import events, lines
from openai_bridge.dify.call import DifyCall
from openai_bridge.dify.failures import DifyFailure, DifyRefusal
from openai_bridge.ports import KeyValueStorage

logger = logging.getLogger(__name__)

FALLBACK_USER = "openai-gateway"  # the core always names a user; this only guards an empty one
CHAT_MODES = {"chat", "agent-chat", "advanced-chat", "agent"}
# The events after which Dify's run is over: no stop is sent for it.
_FINAL_EVENTS = {"message_end", "workflow_finished", "error"}
_MODE_TTL_SECONDS = 60.0


def _route(mode: str) -> tuple[str, Callable[[str], str]]:
    """The run's path and its stop path for a task id, by the app's mode."""
    if mode == "workflow":
        return "/workflows/run", lambda task: f"/workflows/tasks/{task}/stop"
    if mode == "completion":
        return "/completion-messages", lambda task: f"/completion-messages/{task}/stop"
    return "/chat-messages", lambda task: f"/chat-messages/{task}/stop"


def request_body(mode: str, call: DifyCall) -> dict[str, Any]:
    """What Dify's Service API takes for `call` in this mode: workflows have no query and no conversation."""
    body: dict[str, Any] = {"inputs": dict(call.inputs), "response_mode": "streaming",
                            "user": call.user or FALLBACK_USER, "files": list(call.files)}
    if mode != "workflow":
        body["query"] = call.query
    if mode in CHAT_MODES:
        body["conversation_id"] = call.conversation_id or ""
    return body


def refusal_of(response: httpx.Response) -> DifyRefusal:
    """Dify's error JSON `{code, message, status}` (or whatever a proxy in front said) as a refusal value."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return DifyRefusal(DifyFailure(response.status_code, str(body.get("code") or ""),
                                       str(body.get("message") or "").strip(), text))
    said = text.strip()[:300] or response.reason_phrase
    return DifyRefusal(DifyFailure(response.status_code, "", f"HTTP {response.status_code}: {said}", text))


def transport_failure(exc: httpx.HTTPError, base_url: str, read_timeout: float, streaming: bool = False) -> DifyRefusal:
    if streaming and not isinstance(exc, httpx.TimeoutException):
        return DifyRefusal(DifyFailure(0, "", f"the app's stream from Dify at {base_url} broke: {exc}", str(exc)))
    if isinstance(exc, httpx.TimeoutException):
        # "timed out" in the text is what the core reads as Dify not answering in time (a 504).
        return DifyRefusal(DifyFailure(0, "", f"nothing from Dify at {base_url} within the gateway's timeout "
                                              f"({type(exc).__name__}; timeouts.read = {read_timeout:g} s)",
                                       f"timed out: {exc}"))
    return DifyRefusal(DifyFailure(0, "", f"the gateway cannot reach Dify at {base_url}: {exc or type(exc).__name__}",
                                   str(exc)))


class ServiceApiDify:
    """The DifyPort of one gateway process; every request shares it (one connection pool, cached app modes)."""

    accepts_query_files = True  # the Service API takes `files` with the query (sys.files)
    runs_text_generators = True  # through /completion-messages

    def __init__(self, config: GatewayConfig, storage: KeyValueStorage, client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint_id = config.endpoint_id
        self._config = config
        self._storage = storage
        timeouts = config.timeouts
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.upload,
                                  pool=timeouts.connect),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        self._clock = clock
        self._modes: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _url(self, path: str) -> str:
        return self._config.dify_url + path

    def _model(self, app_id: str) -> Model:
        return self._config.model_for_app(app_id)

    def _send(self, model: Model, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, self._url(path), headers={"Authorization": f"Bearer "
                                                                                             f"{model.app_key}"},
                                            **kwargs)
        except httpx.HTTPError as exc:
            raise transport_failure(exc, self._config.dify_url, self._config.timeouts.read) from exc
        if response.status_code >= 300:
            raise refusal_of(response)
        return response

    def _json(self, model: Model, path: str) -> dict[str, Any]:
        answer = self._send(model, "GET", path).json()
        if not isinstance(answer, dict):
            raise DifyRefusal(DifyFailure(502, "", f"Dify's {path} answer is not a JSON object"))
        return answer

    def app_mode(self, model: Model) -> str:
        """The app's mode from `/info`, cached briefly: an app's mode never changes, but its key may be replaced."""
        now = self._clock()
        with self._lock:
            hit = self._modes.get(model.app_id)
        if hit and now - hit[0] < _MODE_TTL_SECONDS:
            return hit[1]
        mode = str(self._json(model, "/info").get("mode") or "")
        with self._lock:
            self._modes[model.app_id] = (now, mode)
        return mode

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        return self._json(self._model(app_id), "/parameters")

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        model = self._model(call.app_id)
        mode = self.app_mode(model)
        path, stop_path = _route(mode)
        return self._run(model, path, stop_path, request_body(mode, call))

    def _run(self, model: Model, path: str, stop_path: Callable[[str], str],
             body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {model.app_key}", "Accept": "text/event-stream"}
        try:
            stream = self._client.stream("POST", self._url(path), json=body, headers=headers)
            response = stream.__enter__()
        except httpx.HTTPError as exc:
            raise transport_failure(exc, self._config.dify_url, self._config.timeouts.read) from exc
        if response.status_code >= 300:
            response.read()
            stream.__exit__(None, None, None)
            raise refusal_of(response)
        return self._events(model, stream, response, stop_path, body["user"])

    def _events(self, model: Model, stream: Any, response: httpx.Response, stop_path: Callable[[str], str],
                user: str) -> Iterator[dict[str, Any]]:
        task_id, over = "", False
        try:
            for event in events(lines(response.iter_bytes())):
                task_id = task_id or str(event.get("task_id") or "")
                over = over or event.get("event") in _FINAL_EVENTS
                yield event
        except httpx.HTTPError as exc:
            raise transport_failure(exc, self._config.dify_url, self._config.timeouts.read, streaming=True) from exc
        finally:
            stream.__exit__(None, None, None)
            if task_id and not over:
                self._stop(model, stop_path(task_id), user)

    def _stop(self, model: Model, path: str, user: str) -> None:
        """Dify keeps running (and billing) a run whose reader went away until it is told to stop."""
        try:
            self._send(model, "POST", path, json={"user": user}, timeout=self._config.timeouts.connect)
        except DifyRefusal as refusal:
            logger.warning("Dify did not stop the abandoned run (%s): %s", path, refusal)

    def upload_file(self, app_id: str, filename: str, content: bytes, mimetype: str, user: str) -> dict[str, str]:
        # An upload belongs to the app whose key made it (and to its end user): made with the key of the app that
        # will read it.
        response = self._send(self._model(app_id), "POST", "/files/upload",
                              files={"file": (filename or "upload", content, mimetype)},
                              data={"user": user or FALLBACK_USER}, timeout=self._config.timeouts.upload)
        try:
            upload_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            raise DifyRefusal(DifyFailure(502, "", "Dify's /files/upload answer names no file id")) from None
        return {"transfer_method": "local_file", "upload_file_id": str(upload_id)}

    def storage_get(self, key: str) -> bytes | None:
        return self._storage.storage_get(key)

    def storage_set(self, key: str, value: bytes) -> None:
        self._storage.storage_set(key, value)
