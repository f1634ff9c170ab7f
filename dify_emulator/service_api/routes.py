"""The Service API's routes over the shared app engine (dify_emulator/apps.py): `ServiceApi.handle(request)`.

Checks run in Dify's order (controllers/service_api): the route, the app key (`validate_app_token`), the caller's
`user` (required in the JSON body of the run and stop routes), the app's mode for the route, the body (pydantic),
then the generator's own checks (agent-chat blocking, query, conversation of this user, inputs, files). Only a
request past them all consumes a scripted reply.
"""

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..app_events import BlockingFailure, fold_blocking
from ..apps import AppCall, AppEmulator, EmulatedApp, EndUser, Execution
from ..conversations import Conversation, ConversationStore
from ..errors import BackwardsError
from ..graph import END_USER
from ..inputs import FileSources, validate_inputs
from ..scenario import CHAT_MODES
from . import errors
from .errors import ServiceError, invalid_param
from .files import UploadedFiles, parse_form, request_files, uploaded_part
from .payloads import ChatRequestPayload, CompletionRequestPayload, WorkflowRunPayload, parse
from .streams import StreamPlan, Tasks, sse

logger = logging.getLogger("dify_emulator")

PING_INTERVAL = 10.0
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str  # below /v1, e.g. "/chat-messages"
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys lower-case
    body: bytes = b""

    def json(self) -> dict[str, Any]:
        """The JSON body, refused as Flask's get_json refuses it."""
        content_type = self.headers.get("content-type", "")
        if not content_type.split(";")[0].strip().lower().endswith("json"):
            raise ServiceError(415, "unsupported_media_type", "Did not attempt to load JSON data because the "
                               "request Content-Type was not 'application/json'.")
        try:
            body = json.loads(self.body)
        except ValueError:
            raise ServiceError(400, "bad_request", "Invalid JSON payload received or JSON payload is empty.") from None
        if not isinstance(body, dict):
            raise errors.internal_server_error()  # Dify calls .get() on it
        return body


@dataclass
class Response:
    status: int
    body: bytes | Iterator[bytes]
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(body).encode())


def error_response(error: ServiceError) -> Response:
    return Response(error.status, error.encoded(), headers=dict(error.headers))


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the app its key belongs to."""

    app_id: str
    app: EmulatedApp


Route = Callable[["ServiceApi", Caller, Request, re.Match[str]], Response]
ROUTES: list[tuple[str, re.Pattern[str], str]] = []  # (method, path, handler name)


def _route(method: str, pattern: str) -> Callable[[Route], Route]:
    def register(handler: Route) -> Route:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler.__name__))
        return handler
    return register


UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class ServiceApi:
    def __init__(self, server_url: Callable[[], str]) -> None:
        self.conversations = ConversationStore()
        self.uploads = UploadedFiles(server_url)
        self.apps = AppEmulator(self.conversations, self.uploads)
        self.tasks = Tasks()
        self.ping_interval = PING_INTERVAL
        self.records: list[dict[str, Any]] = []
        self._records_lock = threading.Lock()
        self._keys: dict[str, str] = {}  # API key -> app id

    def load(self, scenario: Mapping[str, Any], keys: Mapping[str, str]) -> None:
        """Serve these apps (scenario as load_scenario completes it) with these keys (app id -> key)."""
        self.apps.load(scenario)
        self._keys = {key: app_id for app_id, key in keys.items()}

    # -- dispatch ---------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            handler, match = self._match(request)
            return handler(self, self._authenticate(request), request, match)
        except ServiceError as e:
            return error_response(e)
        except Exception:  # a bug in the emulator still answers as Dify answers the unexpected
            logger.exception("service api %s %s failed", request.method, request.path)
            return error_response(errors.internal_server_error())

    @staticmethod
    def _match(request: Request) -> tuple[Route, re.Match[str]]:
        allowed = False
        for method, pattern, name in ROUTES:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method == request.method:
                return getattr(ServiceApi, name), match
            allowed = True
        if allowed:
            raise ServiceError(405, "method_not_allowed", errors.METHOD_NOT_ALLOWED)
        raise ServiceError(404, "not_found", errors.NOT_FOUND_URL)

    def _authenticate(self, request: Request) -> Caller:
        """`validate_and_get_api_token("app")`."""
        header = request.headers.get("authorization")
        if header is None or " " not in header:
            raise errors.unauthorized("Authorization header must be provided and start with 'Bearer'")
        scheme, token = header.split(None, 1)
        if scheme.lower() != "bearer":
            raise errors.unauthorized("Authorization scheme must be 'Bearer'")
        app_id = self._keys.get(token.strip())
        app = self.apps.find(app_id) if app_id else None
        if app_id is None or app is None:
            raise errors.unauthorized("Access token is invalid")
        return Caller(app_id, app)

    def _record(self, kind: str, caller: Caller, request: Any, user: str | None) -> None:
        with self._records_lock:
            self.records.append({"type": kind, "app_id": caller.app_id, "request": request, "user": user})

    @staticmethod
    def end_user(caller: Caller, user: Any) -> EndUser:
        """EndUserService.get_or_create_end_user: one end user per (app, user); no user is DEFAULT-USER."""
        session_id = str(user) if user else END_USER
        return EndUser(str(uuid.uuid5(uuid.NAMESPACE_URL, f"end-user/{caller.app_id}/{session_id}")), session_id)

    def _json_user(self, kind: str, caller: Caller, request: Request,
                   extra: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], EndUser]:
        """The JSON body (recorded, with `extra`) and its required `user`."""
        body = request.json()
        user = body.get("user")
        self._record(kind, caller, {**body, **(extra or {})}, str(user) if user else None)
        if not user:
            raise invalid_param("Arg user must be provided.")
        return body, self.end_user(caller, user)

    # -- runs -------------------------------------------------------------------------------------------

    @_route("POST", "/chat-messages")
    def chat_messages(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        body, user = self._json_user("chat-messages", caller, request)
        if caller.app.mode not in CHAT_MODES:
            raise errors.wrong_route(errors.NOT_CHAT_APP)
        payload = parse(ChatRequestPayload, body)
        streaming = payload.response_mode == "streaming"
        if caller.app.mode == "agent-chat" and not streaming:
            raise invalid_param("Agent Chat App does not support blocking mode")
        if not payload.query:
            raise invalid_param("query is required")
        conversation: Conversation | None = None
        if payload.conversation_id:
            conversation = self.conversations.owned(caller.app_id, payload.conversation_id, user.id)
            if conversation is None:
                raise ServiceError(404, "not_found", errors.CONVERSATION_NOT_EXISTS)
        return self._run(caller, user, payload.query, payload.inputs, payload.files, streaming, conversation)

    @_route("POST", "/completion-messages")
    def completion_messages(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        body, user = self._json_user("completion-messages", caller, request)
        if caller.app.mode != "completion":
            raise errors.wrong_route(errors.APP_UNAVAILABLE)
        payload = parse(CompletionRequestPayload, body)
        return self._run(caller, user, payload.query, payload.inputs, payload.files,
                         payload.response_mode == "streaming", None)

    @_route("POST", "/workflows/run")
    def workflows_run(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        body, user = self._json_user("workflows/run", caller, request)
        if caller.app.mode != "workflow":
            raise errors.wrong_route(errors.NOT_WORKFLOW_APP)
        payload = parse(WorkflowRunPayload, body)
        return self._run(caller, user, "", payload.inputs, payload.files, payload.response_mode == "streaming", None)

    def _run(self, caller: Caller, user: EndUser, query: str, raw_inputs: dict[str, Any],
             raw_files: list[dict[str, Any]] | None, streaming: bool, conversation: Conversation | None) -> Response:
        app = caller.app
        sources = FileSources(self.uploads, self.uploads, self.apps.reachable_urls)
        try:
            inputs = validate_inputs(app.parameters, raw_inputs, self.uploads, sources.reachable, self.uploads)
        except BackwardsError as e:
            raise errors.from_backwards(e) from None
        files = request_files(app.parameters, raw_files, sources)
        execution = self.apps.execute(AppCall(caller.app_id, app, query, inputs, conversation, user, files))
        if "fail" in execution.reply:
            raise errors.from_failure_text(str(execution.reply["fail"]))
        if not streaming:
            return json_response(self._blocking(execution))
        task = self.tasks.start(execution.run.task_id, user.id)
        plan = StreamPlan(app.mode, execution.events, execution.delay, self.ping_interval,
                          breaks="then_fail" in execution.reply)
        return Response(200, self._streamed(plan, task), SSE_TYPE)

    def _streamed(self, plan: StreamPlan, task: Any) -> Iterator[bytes]:
        try:
            yield from sse(plan, task)
        finally:
            self.tasks.end(task)

    @staticmethod
    def _blocking(execution: Execution) -> dict[str, Any]:
        """The one dict of a blocking run, after the time the run takes; a failed run fails the request."""
        time.sleep(execution.delay * len(execution.events))
        reply = execution.reply
        if "then_fail" in reply:
            raise errors.internal_server_error()
        if "blocking" in reply:
            return dict(reply["blocking"])
        try:
            return fold_blocking(execution.run, execution.events)
        except BlockingFailure as e:
            # The run's exception reaches the controller: InvokeError and ValueError keep their code and text,
            # anything else is werkzeug's InternalServerError.
            if e.event.get("status") == 500:
                raise ServiceError(500, *errors.RUN_FAILED_500) from None
            raise ServiceError(int(e.event.get("status") or 400), str(e.event.get("code") or "invalid_param"),
                               str(e)) from None

    # -- stop -------------------------------------------------------------------------------------------

    @_route("POST", "/chat-messages/(?P<task_id>[^/]+)/stop")
    def chat_stop(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        return self._stop(caller, request, match, "stop", CHAT_MODES, errors.NOT_CHAT_APP)

    @_route("POST", "/completion-messages/(?P<task_id>[^/]+)/stop")
    def completion_stop(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        return self._stop(caller, request, match, "stop", frozenset({"completion"}), errors.APP_UNAVAILABLE)

    @_route("POST", "/workflows/tasks/(?P<task_id>[^/]+)/stop")
    def workflow_stop(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        return self._stop(caller, request, match, "stop", frozenset({"workflow"}), errors.NOT_WORKFLOW_APP)

    def _stop(self, caller: Caller, request: Request, match: re.Match[str], kind: str, modes: frozenset[str],
              wrong: tuple[str, str]) -> Response:
        _, user = self._json_user(kind, caller, request, {"task_id": match.group("task_id")})
        if caller.app.mode not in modes:
            raise errors.wrong_route(wrong)
        self.tasks.stop(match.group("task_id"), user.id)
        return json_response({"result": "success"})

    # -- the app ----------------------------------------------------------------------------------------

    @_route("GET", "/info")
    def info(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        self._record("info", caller, dict(request.query), request.query.get("user"))
        return json_response({"name": caller.app.name, "description": "", "tags": [], "mode": caller.app.mode})

    @_route("GET", "/parameters")
    def parameters(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        self._record("parameters", caller, dict(request.query), request.query.get("user"))
        return json_response(caller.app.parameters)

    @_route("GET", "/meta")
    def meta(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        self._record("meta", caller, dict(request.query), request.query.get("user"))
        return json_response({"tool_icons": {}})

    # -- files ------------------------------------------------------------------------------------------

    @_route("POST", "/files/upload")
    def files_upload(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        form, files = parse_form(request.headers.get("content-type", ""), request.body)
        user = form.get("user")
        recorded: dict[str, Any] = dict(form.items())
        part = files.get("file")
        if part is not None:
            recorded["file"] = {"name": part.filename, "mimetype": part.mimetype}
        self._record("files/upload", caller, recorded, user or None)
        part = uploaded_part(files)
        content = part.read()
        recorded["file"]["size"] = len(content)
        record = self.uploads.add(str(part.filename), part.mimetype, content, self.end_user(caller, user).id)
        return json_response(record, 201)

    # -- conversations ----------------------------------------------------------------------------------

    @_route("GET", "/conversations")
    def conversations_list(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        user = request.query.get("user")
        self._record("conversations", caller, dict(request.query), user)
        if caller.app.mode not in CHAT_MODES:
            raise errors.wrong_route(errors.NOT_CHAT_APP)
        limit_text = request.query.get("limit", "20")
        limit = int(limit_text) if limit_text.isdigit() else 0
        if not 1 <= limit <= 100:
            raise invalid_param(f"Invalid limit: {limit_text}. limit must be within the range 1 - 100")
        found = self.conversations.of(caller.app_id, self.end_user(caller, user).id)
        return json_response({"limit": limit, "has_more": len(found) > limit,
                              "data": [_conversation_fields(c) for c in found[:limit]]})

    @_route("DELETE", f"/conversations/(?P<conversation_id>{UUID_PATTERN})")
    def conversation_delete(self, caller: Caller, request: Request, match: re.Match[str]) -> Response:
        body = request.json() if request.body else {}
        user = body.get("user")
        self._record("conversations/delete", caller, {**body, "conversation_id": match.group("conversation_id")},
                     str(user) if user else None)
        if caller.app.mode not in CHAT_MODES:
            raise errors.wrong_route(errors.NOT_CHAT_APP)
        conversation_id = str(uuid.UUID(match.group("conversation_id")))
        if self.conversations.owned(caller.app_id, conversation_id, self.end_user(caller, user).id) is None:
            raise ServiceError(404, "not_found", errors.CONVERSATION_NOT_EXISTS)
        self.conversations.delete(conversation_id)
        return Response(204, b"")


def _conversation_fields(conversation: Conversation) -> dict[str, Any]:
    """simple_conversation_fields; the emulator keeps no inputs or generated name."""
    first = conversation.turns[0].query if conversation.turns else ""
    return {"id": conversation.id, "name": first[:30] or "New conversation", "inputs": {}, "status": "normal",
            "introduction": "", "created_at": conversation.created_at, "updated_at": conversation.created_at}
