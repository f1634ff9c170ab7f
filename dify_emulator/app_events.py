"""The event dicts a Dify app streams to a plugin, and the one dict it returns in blocking mode.

Shapes follow Dify's "full" stream converters (what `invoke_app` hands the daemon), as recorded on 1.14.1:
chat-type modes wrap every event in {event, conversation_id, message_id, created_at, task_id, ...}, workflow
apps in {event, workflow_run_id, task_id, data}. The terminal `error` event is the one without `task_id`.
"""

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Run:
    """The ids and timestamps shared by the events of one app run."""

    mode: str
    workflow_id: str = field(default_factory=_new_id)
    conversation_id: str | None = None
    task_id: str = field(default_factory=_new_id)
    message_id: str = field(default_factory=_new_id)
    workflow_run_id: str = field(default_factory=_new_id)
    created_at: int = field(default_factory=lambda: int(time.time()))
    # What the app's knowledge retrieval found, shown when its Citations and Attributions feature is on.
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)

    def _envelope(self, name: str) -> dict[str, Any]:
        if self.mode == "workflow":
            return {"event": name, "workflow_run_id": self.workflow_run_id}
        if self.mode == "completion":  # a text generator has no conversation
            return {"event": name, "message_id": self.message_id, "created_at": self.created_at}
        return {"event": name, "conversation_id": self.conversation_id, "message_id": self.message_id,
                "created_at": self.created_at}

    def event(self, name: str, **fields: Any) -> dict[str, Any]:
        """An event with this mode's envelope."""
        return {**self._envelope(name), "task_id": self.task_id, **fields}

    def workflow_event(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """workflow_* and node_* events: in advanced-chat they also carry workflow_run_id."""
        if self.mode == "workflow":
            return self.event(name, data=data)
        return self.event(name, workflow_run_id=self.workflow_run_id, data=data)

    def error(self, code: str, status: int, message: str) -> dict[str, Any]:
        """The terminal error event: Dify sends it without task_id."""
        return {**self._envelope("error"), "code": code, "status": status, "message": message}

    def message_end(self, usage: Mapping[str, Any], files: list[Any] | None) -> dict[str, Any]:
        """Chatflows send `files: []`, chat and agent apps `files: null`."""
        metadata = {"annotation_reply": None, "retriever_resources": list(self.retriever_resources),
                    "usage": dict(usage)}
        return self.event("message_end", id=self.message_id, metadata=metadata, files=files)


def answer_of(events: Iterable[Any]) -> str:
    """The answer a client sees in a chat-type stream (message_replace replaces what came before)."""
    answer = ""
    for event in events:
        if not isinstance(event, Mapping):  # scripted events are sent as given, junk included
            continue
        if event.get("event") == "message_replace":
            answer = str(event.get("answer", ""))
        elif event.get("event") in ("message", "agent_message") and isinstance(event.get("answer"), str):
            answer += event["answer"]
    return answer


class BlockingFailure(Exception):
    """The folded stream held an `error` event: blocking mode turns it into a failed request."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        super().__init__(event.get("message", ""))
        self.event = event


def fold_blocking(run: Run, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The dict Dify returns in blocking mode for a run that would have streamed `events`."""
    for event in events:
        if event.get("event") == "error":
            raise BlockingFailure(event)
    if run.mode == "workflow":
        return _fold_workflow(run, events)
    metadata: dict[str, Any] = {}
    ids = {"task_id": run.task_id, "message_id": run.message_id, "conversation_id": run.conversation_id,
           "created_at": run.created_at}
    for event in events:
        ids.update({k: event[k] for k in ids if event.get(k) is not None})
        if event.get("event") == "message_end":
            metadata = dict(event.get("metadata") or {})
    folded = {
        "event": "message",
        "task_id": ids["task_id"],
        "id": ids["message_id"],
        "message_id": ids["message_id"],
        "conversation_id": ids["conversation_id"],
        "mode": run.mode,
        "answer": answer_of(events),
        "metadata": metadata,
        "created_at": ids["created_at"],
    }
    if run.mode == "completion":
        del folded["conversation_id"]
    return folded


WORKFLOW_BLOCKING_KEYS = ("id", "workflow_id", "status", "outputs", "error", "elapsed_time", "total_tokens",
                          "total_steps", "created_at", "finished_at")


def _fold_workflow(run: Run, events: list[dict[str, Any]]) -> dict[str, Any]:
    task_id, run_id = run.task_id, run.workflow_run_id
    text = ""
    finished: dict[str, Any] | None = None
    for event in events:
        task_id = event.get("task_id", task_id)
        run_id = event.get("workflow_run_id", run_id)
        data = event.get("data") or {}
        if event.get("event") == "text_chunk":
            text += data.get("text", "")
        elif event.get("event") == "workflow_finished":
            finished = data
    data = finished or {"id": run_id, "workflow_id": run.workflow_id, "status": "succeeded",
                        "outputs": {"answer": text}, "created_at": run.created_at, "finished_at": run.created_at}
    return {"task_id": task_id, "workflow_run_id": run_id, "data": {k: data.get(k) for k in WORKFLOW_BLOCKING_KEYS}}
