"""The event dicts a Dify app streams to a plugin, and the one dict it returns in blocking mode.

Shapes follow Dify's "full" stream converters (what `invoke_app` hands the daemon): chat-type modes wrap
every event in {event, conversation_id, message_id, created_at, task_id, ...}, completion drops the
conversation, workflow wraps in {event, workflow_run_id, task_id, data}.
"""

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .scenario import CHAT_MODES

DELTA_COUNT = 4


def split_deltas(text: str, count: int = DELTA_COUNT) -> list[str]:
    """`text` cut into `count` pieces (fewer for very short texts), at word boundaries when there are enough
    words, else inside words, as LLM tokens are; joined they give `text` back exactly."""
    pieces = re.findall(r"\s*\S+\s*|\s+", text)
    if len(pieces) < count:
        pieces = list(text) or [""]
    n, k = len(pieces), min(count, len(pieces))
    return ["".join(pieces[i * n // k : (i + 1) * n // k]) for i in range(k)]


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def usage(prompt: str, answer: str, latency: float = 0.42) -> dict[str, Any]:
    """LLMUsage as Dify puts it in message_end.metadata.usage (prices are strings)."""
    prompt_tokens, completion_tokens = count_tokens(prompt), count_tokens(answer)
    prompt_price, completion_price = prompt_tokens * 0.000001, completion_tokens * 0.000002
    return {
        "prompt_tokens": prompt_tokens,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": f"{prompt_price:.7f}",
        "completion_tokens": completion_tokens,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": f"{completion_price:.7f}",
        "total_tokens": prompt_tokens + completion_tokens,
        "total_price": f"{prompt_price + completion_price:.7f}",
        "currency": "USD",
        "latency": latency,
    }


@dataclass
class Run:
    """The ids and timestamps shared by the events of one app run."""

    mode: str
    conversation_id: str | None = None
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    workflow_run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    workflow_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: int = field(default_factory=lambda: int(time.time()))

    def event(self, name: str, **fields: Any) -> dict[str, Any]:
        """An event with this mode's envelope."""
        if self.mode == "workflow":
            envelope: dict[str, Any] = {"event": name, "workflow_run_id": self.workflow_run_id}
        elif self.mode == "completion":
            envelope = {"event": name, "message_id": self.message_id, "created_at": self.created_at}
        else:
            envelope = {
                "event": name,
                "conversation_id": self.conversation_id,
                "message_id": self.message_id,
                "created_at": self.created_at,
            }
        return {**envelope, "task_id": self.task_id, **fields}

    def workflow_event(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """workflow_* and node_* events: in advanced-chat they also carry workflow_run_id."""
        return self.event(name, workflow_run_id=self.workflow_run_id, data=data)

    def message_end(self, prompt: str, answer: str) -> dict[str, Any]:
        return self.event(
            "message_end",
            id=self.message_id,
            metadata={"usage": usage(prompt, answer), "retriever_resources": []},
            files=[],
        )


def echo_events(run: Run, answer: str, prompt: str, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A realistic stream for `run.mode` whose answer is `answer`, split into several deltas."""
    deltas = split_deltas(answer)
    if run.mode in ("chat", "completion"):
        return [*(run.event("message", id=run.message_id, answer=d) for d in deltas), run.message_end(prompt, answer)]
    if run.mode == "agent-chat":
        thought_id = str(uuid.uuid4())
        return [
            _agent_thought(run, thought_id, ""),
            *(run.event("agent_message", id=run.message_id, answer=d) for d in deltas),
            # Dify re-sends the thought with the same id once it is filled in.
            _agent_thought(run, thought_id, answer),
            run.message_end(prompt, answer),
        ]
    tokens = usage(prompt, answer)["total_tokens"]
    if run.mode == "advanced-chat":
        chunks = [run.event("message", id=run.message_id, answer=d, from_variable_selector=["llm", "text"])
                  for d in deltas]
        last_node = ("answer", "answer", "Answer")
    else:
        chunks = [run.event("text_chunk", data={"text": d, "from_variable_selector": ["llm", "text"]}) for d in deltas]
        last_node = ("end", "end", "End")
    events = [
        run.workflow_event(
            "workflow_started",
            {"id": run.workflow_run_id, "workflow_id": run.workflow_id, "inputs": dict(inputs),
             "created_at": run.created_at},
        ),
        *_node(run, 1, ("start", "start", "Start"), {}, dict(inputs)),
    ]
    llm_started, llm_finished = _node(run, 2, ("llm", "llm", "LLM"), {"total_tokens": tokens}, {"text": answer})
    events += [llm_started, *chunks, llm_finished]
    events += _node(run, 3, last_node, {}, {"answer": answer})
    events.append(run.workflow_event("workflow_finished", _finished_data(run, {"answer": answer}, tokens)))
    if run.mode == "advanced-chat":
        events.append(run.message_end(prompt, answer))
    return events


def _agent_thought(run: Run, thought_id: str, thought: str) -> dict[str, Any]:
    return run.event(
        "agent_thought",
        id=thought_id,
        position=1,
        thought=thought,
        observation="",
        tool="",
        tool_labels={},
        tool_input="",
        message_files=[],
    )


def _node(
    run: Run, index: int, node: tuple[str, str, str], metadata: dict[str, Any], outputs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    node_id, node_type, title = node
    base = {
        "id": str(uuid.uuid4()),
        "node_id": node_id,
        "node_type": node_type,
        "title": title,
        "index": index,
        "predecessor_node_id": None,
        "inputs": None,
        "created_at": run.created_at,
    }
    finished = {
        **base,
        "process_data": None,
        "outputs": outputs,
        "status": "succeeded",
        "error": None,
        "elapsed_time": 0.01,
        "execution_metadata": metadata or None,
        "finished_at": run.created_at,
        "files": [],
    }
    return run.workflow_event("node_started", base), run.workflow_event("node_finished", finished)


def _finished_data(run: Run, outputs: dict[str, Any], total_tokens: int) -> dict[str, Any]:
    return {
        "id": run.workflow_run_id,
        "workflow_id": run.workflow_id,
        "status": "succeeded",
        "outputs": outputs,
        "error": None,
        "elapsed_time": 0.42,
        "total_tokens": total_tokens,
        "total_steps": 3,
        "created_at": run.created_at,
        "finished_at": run.created_at,
        "exceptions_count": 0,
        "files": [],
    }


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
    answer = ""
    metadata: dict[str, Any] = {}
    ids = {"task_id": run.task_id, "message_id": run.message_id, "conversation_id": run.conversation_id,
           "created_at": run.created_at}
    for event in events:
        ids.update({k: event[k] for k in ids if event.get(k) is not None})
        if event.get("event") == "message_replace":
            answer = event.get("answer", "")
        elif event.get("event") in ("message", "agent_message") and isinstance(event.get("answer"), str):
            answer += event["answer"]
        elif event.get("event") == "message_end":
            metadata = dict(event.get("metadata") or {})
    folded = {
        "event": "message",
        "task_id": ids["task_id"],
        "id": ids["message_id"],
        "message_id": ids["message_id"],
        "conversation_id": ids["conversation_id"],
        "mode": run.mode,
        "answer": answer,
        "metadata": metadata,
        "created_at": ids["created_at"],
    }
    if run.mode not in CHAT_MODES:
        del folded["conversation_id"]
    return folded


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
    data = dict(finished or _finished_data(run, {"answer": text}, count_tokens(text)))
    keys = ("id", "workflow_id", "status", "outputs", "error", "elapsed_time", "total_tokens", "total_steps",
            "created_at", "finished_at")
    return {"task_id": task_id, "workflow_run_id": run_id, "data": {k: data.get(k) for k in keys}}
