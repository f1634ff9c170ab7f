"""A run's events as Dify's Service API streams them, and stopping a running task.

Framing (`BaseAppGenerator.convert_to_event_stream`): every event is `data: <compact JSON>\\n\\n`, a ping is
`event: ping\\n\\n`. The ping comes from the task's queue listener (`AppQueueManager.listen`): each time the run's
elapsed time passes another multiple of 10 s, whether or not the app is silent.

A stop (`.../stop`, `AppTaskService.stop_task`) sets the task's stop flag if the task belongs to the caller; the
listener then ends the run as the mode's task pipeline ends a QueueStopEvent: chat, agent-chat and completion
apps with `message_end`; a chatflow with `workflow_finished` (status "stopped", error "Stopped by user.") then
`message_end`; a workflow with that `workflow_finished`. Stopping an unknown task, or someone else's, succeeds
and does nothing.
"""

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PING = b"event: ping\n\n"
STOPPED_BY_USER = "Stopped by user."  # QueueStopEvent.get_stop_reason() for a manual stop


def frame(event: Mapping[str, Any]) -> bytes:
    # orjson_dumps: compact, UTF-8 as is.
    return b"data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


class StreamBroken(Exception):
    """The scenario breaks the stream (`then_fail`): the connection ends without the closing chunk."""


@dataclass
class Task:
    task_id: str
    owner: str  # the end user's id
    stop: threading.Event = field(default_factory=threading.Event)


class Tasks:
    """The running streamed tasks, by task id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Task] = {}

    def start(self, task_id: str, owner: str) -> Task:
        task = Task(task_id, owner)
        with self._lock:
            self._running[task_id] = task
        return task

    def end(self, task: Task) -> None:
        with self._lock:
            if self._running.get(task.task_id) is task:
                del self._running[task.task_id]

    def stop(self, task_id: str, owner: str) -> bool:
        """Set the stop flag of the caller's own running task; whether there was one."""
        with self._lock:
            task = self._running.get(task_id)
        if task is None or task.owner != owner:
            return False
        task.stop.set()
        return True


def stop_tail(mode: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a stopped run sends last, built from the events it would have ended with."""
    finished = next((dict(e) for e in reversed(events) if e.get("event") == "workflow_finished"), None)
    tail: list[dict[str, Any]] = []
    if finished is not None and mode in ("advanced-chat", "workflow"):
        data = dict(finished.get("data") or {})
        data.update(status="stopped", error=STOPPED_BY_USER, outputs={})
        tail.append({**finished, "data": data})
    end = next((dict(e) for e in reversed(events) if e.get("event") == "message_end"), None)
    if end is not None and mode != "workflow":
        tail.append(end)
    return tail


@dataclass
class StreamPlan:
    """One streamed run: its events, the pause before each, and how it ends if stopped or broken."""

    mode: str
    events: Sequence[dict[str, Any]]
    delay: float
    ping_interval: float
    breaks: bool = False  # the scenario's then_fail


def sse(plan: StreamPlan, task: Task) -> Iterator[bytes]:
    """The SSE bytes of a run, pings included; ends early when the task is stopped."""
    next_ping = time.monotonic() + plan.ping_interval
    for event in plan.events:
        due = time.monotonic() + plan.delay
        while True:
            now = time.monotonic()
            if task.stop.is_set():
                for last in stop_tail(plan.mode, plan.events):
                    yield frame(last)
                return
            if now >= next_ping:
                yield PING
                next_ping += plan.ping_interval
                continue
            if now >= due:
                break
            task.stop.wait(min(due, next_ping) - now)
        yield frame(event)
    if plan.breaks:
        raise StreamBroken()
