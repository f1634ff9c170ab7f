"""Driving the core in-process as the plugin does: a healthy echo app behind it, several endpoint configurations."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.datastructures import Headers

from openai_bridge.dify.call import DifyCall
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing
from openai_bridge.wire.body import DIFY_BODY_LIMIT

from .headers import ALLOWED_ORIGIN
from .oracle import Answer, Seen
from .strategies import API_KEY, KNOWN_RESPONSE, FuzzRequest


def budget(name: str, default: int) -> int:
    """A fuzz budget from the environment (`make fuzz` sets the full ones; `make test` runs the defaults)."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


MAX_DELTAS = 2_000


@dataclass
class EchoDify:
    """A healthy Dify whose app answers with the query (or the inputs, for apps without one)."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    endpoint_id: str = "ep-fuzz"
    storage: dict[str, bytes] = field(default_factory=dict)
    uploads: int = 0
    accepts_query_files: bool = False
    runs_text_generators: bool = False

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        query = call.query
        conversation = call.conversation_id or str(uuid.uuid4())
        env = {"conversation_id": conversation, "message_id": f"m-{uuid.uuid4().hex[:8]}", "created_at": 1700000000,
               "task_id": "t"}
        # Token-sized deltas, as a model streams them (per-delta costs such as `stop` matching show), but never more
        # than MAX_DELTAS of them, so that a multi-megabyte answer stays quick.
        step = max(4, -(-len(query) // MAX_DELTAS))
        for at in range(0, len(query), step):
            yield {"event": "message", "answer": query[at:at + step], **env}
        yield {"event": "message_end", **env,
               "metadata": {"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}, "files": []}

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        return self.parameters  # the parameters themselves, as the daemon hands them over

    def upload_file(self, app_id: str, filename: str, content: bytes, mimetype: str, user: str) -> dict[str, str]:
        self.uploads += 1
        return {"transfer_method": "tool_file", "tool_file_id": f"file-{self.uploads}"}

    def storage_get(self, key: str) -> bytes | None:
        return self.storage.get(key)

    def storage_set(self, key: str, value: bytes) -> None:
        self.storage[key] = value


FILE_LIST = {"file-list": {"variable": "files", "label": "Files", "required": False, "max_length": 3,
                           "allowed_file_types": ["image", "document", "audio"],
                           "allowed_file_upload_methods": ["remote_url", "local_file"]}}
SYSTEM = {"paragraph": {"variable": "system_prompt", "label": "System", "required": False}}
REQUIRED = {"text-input": {"variable": "topic", "label": "Topic", "required": True}}


def _settings(**extra: Any) -> dict[str, Any]:
    app = {"app_id": f"app-{uuid.uuid4().hex[:8]}", "inputs": {}, "files": [], "type": "app-selector"}
    return {"api_key": API_KEY, "app_id": app, **extra}


@dataclass(repr=False)  # a failing example names its deployment, not the whole storage
class Deployment:
    name: str
    settings: dict[str, Any]
    dify: EchoDify
    forms: AppFormCache = field(default_factory=AppFormCache)
    known_response: str = ""  # the id of a response this deployment made (see seed_known_response)

    def __repr__(self) -> str:
        return f"<deployment {self.name}>"

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        raw = self.settings.get("cors_allow_origins", "")
        return tuple(origin.strip() for origin in raw.split(",") if origin.strip())


TIMING = Timing(first_event_wait=5.0, keepalive_interval=10.0)
AUTH = [("Authorization", f"Bearer {API_KEY}")]
SEED_RESPONSE = json.dumps({"model": "m", "input": "remember me", "inputs": {"topic": "seeding"}}).encode()


def deployments() -> list[Deployment]:
    made = [
        Deployment("plain", _settings(memory_mode="last_user_message"), EchoDify()),
        Deployment("memory+files", _settings(memory_mode="conversation", cors_allow_origins=ALLOWED_ORIGIN),
                   EchoDify({"user_input_form": [FILE_LIST, SYSTEM]})),
        Deployment("transcript+required", _settings(memory_mode="all_messages", reasoning_mode="drop"),
                   EchoDify({"user_input_form": [REQUIRED]})),
        Deployment("inline+cors*", _settings(reasoning_mode="inline", cors_allow_origins="*", model_name="my model"),
                   EchoDify({"user_input_form": [FILE_LIST]})),
    ]
    for deployment in made:
        seed_known_response(deployment)
    return made


def seed_known_response(deployment: Deployment) -> None:
    """Make one response, so that generated requests can continue a response the endpoint really knows."""
    _, answer = run_in_process(deployment, FuzzRequest("POST", "/v1/responses", AUTH, SEED_RESPONSE))
    assert answer.status == 200, answer.body
    deployment.known_response = json.loads(answer.body)["id"]


def delivered_path(path: str) -> str:
    """The path plugin code sees (werkzeug's request.path): no query, percent-decoded (bytes that are not UTF-8
    replaced), one leading slash."""
    return "/" + unquote(path.partition("?")[0], errors="replace").lstrip("/")


def with_known_response(request: FuzzRequest, known: str) -> FuzzRequest:
    """The request with the KNOWN_RESPONSE placeholder replaced by a response id the target really made."""
    placeholder = KNOWN_RESPONSE.encode()
    if not known or (placeholder not in request.body and KNOWN_RESPONSE not in request.path):
        return request
    return request._replace(path=request.path.replace(KNOWN_RESPONSE, known),
                            body=request.body.replace(placeholder, known.encode()))


def run_in_process(deployment: Deployment, request: FuzzRequest) -> tuple[Seen, Answer]:
    """The answer the plugin would give, with Dify's 10 MB body cut applied as the daemon does."""
    method, path, headers, body, lie = with_known_response(request, deployment.known_response)
    kept = body[:DIFY_BODY_LIMIT]
    # The daemon re-frames the body: Content-Length is what it kept, so a cut body looks complete. A client's lie
    # is passed on as is here: the core must not trust it either.
    declared = lie if lie is not None else len(kept) if kept or method in ("POST", "PUT") else None
    incoming = Headers(headers)
    # werkzeug's Headers.get: the first of repeated headers counts (through the SDK, the last: plugin_target).
    seen = Seen(method, delivered_path(path), headers, incoming.get("Origin") or "", deployment.allowed_origins)
    started = time.perf_counter()
    response: HttpResponse = handle(IncomingRequest(method, seen.path, incoming, kept, declared),
                                    deployment.settings, deployment.dify, deployment.forms, TIMING)
    payload = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return seen, Answer(response.status, dict(response.headers), payload, time.perf_counter() - started)
