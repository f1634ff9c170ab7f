"""Driving the core in-process as the plugin does: a healthy echo app behind it, several endpoint configurations."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing
from openai_bridge.wire.body import DIFY_BODY_LIMIT

from .strategies import API_KEY


def budget(name: str, default: int) -> int:
    """A fuzz budget from the environment (`make fuzz` sets the full ones; `make test` runs the defaults)."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


@dataclass
class EchoDify:
    """A healthy Dify whose app answers with the query (or the inputs, for apps without one)."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    endpoint_id: str = "ep-fuzz"
    storage: dict[str, bytes] = field(default_factory=dict)
    uploads: int = 0

    def invoke_app(self, app_id: str, query: str, inputs: Mapping[str, Any],
                   conversation_id: str | None) -> Iterator[dict[str, Any]]:
        conversation = conversation_id or str(uuid.uuid4())
        env = {"conversation_id": conversation, "message_id": f"m-{uuid.uuid4().hex[:8]}", "created_at": 1700000000,
               "task_id": "t"}
        step = max(1, len(query) // 4)
        for at in range(0, len(query), step):
            yield {"event": "message", "answer": query[at:at + step], **env}
        yield {"event": "message_end", **env,
               "metadata": {"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}, "files": []}

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        return {"data": self.parameters}

    def upload_file(self, filename: str, content: bytes, mimetype: str) -> str:
        self.uploads += 1
        return f"file-{self.uploads}"

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


@dataclass
class Deployment:
    name: str
    settings: dict[str, Any]
    dify: EchoDify
    forms: AppFormCache = field(default_factory=AppFormCache)


def deployments() -> list[Deployment]:
    return [
        Deployment("plain", _settings(memory_mode="last_user_message"), EchoDify()),
        Deployment("memory+files", _settings(memory_mode="conversation", cors_allow_origins="https://chat.example.com"),
                   EchoDify({"user_input_form": [FILE_LIST, SYSTEM]})),
        Deployment("transcript+required", _settings(memory_mode="all_messages", reasoning_mode="drop"),
                   EchoDify({"user_input_form": [REQUIRED]})),
        Deployment("inline+cors*", _settings(reasoning_mode="inline", cors_allow_origins="*", model_name="my model"),
                   EchoDify({"user_input_form": [FILE_LIST]})),
    ]


TIMING = Timing(first_event_wait=5.0, keepalive_interval=10.0)


def run_in_process(deployment: Deployment, method: str, path: str, headers: list[tuple[str, str]],
                   body: bytes) -> tuple[int, dict[str, str], bytes]:
    """The answer the plugin would give, with Dify's 10 MB body cut applied as the daemon does."""
    kept = body[:DIFY_BODY_LIMIT]
    # The daemon re-frames the body: Content-Length is what it kept, so a cut body looks complete.
    declared = len(kept) if kept or method in ("POST", "PUT") else None
    request = IncomingRequest(method, path, Headers(headers), kept, declared)
    response: HttpResponse = handle(request, deployment.settings, deployment.dify, deployment.forms, TIMING)
    payload = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response.status, dict(response.headers), payload
