"""Translating the events a Dify app streams into answer parts, for every app mode.

One translator serves all modes because the plugin cannot trust the app-selector's scope: it dispatches on the
events Dify actually sends. Each event type has a handler named after it; unknown events are ignored, never fatal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openai_bridge.answer import AnswerPart, Failure, Finish, Reasoning, Replace, Source, Sources, Text, TokenUsage
from openai_bridge.dify import failures

_OUTPUT_KEYS = ("answer", "text", "result", "output")
_OBSERVATION_LIMIT = 2000


@dataclass
class Envelope:
    """Identity of the Dify run, learned from the first events that carry it."""

    message_id: str = ""
    conversation_id: str = ""
    workflow_run_id: str = ""
    created_at: int = 0
    mode: str = ""  # "chat" (any chat-type app), "completion" or "workflow", once known


@dataclass
class _AgentStep:
    tool_shown: bool = False
    observation_shown: bool = False


@dataclass
class TranslatorOptions:
    show_agent_steps: bool = True
    output_variable: str = ""


@dataclass
class DifyEventTranslator:
    options: TranslatorOptions = field(default_factory=TranslatorOptions)
    envelope: Envelope = field(default_factory=Envelope)
    finished: bool = False
    _text: list[str] = field(default_factory=list)
    _agent_text: list[str] = field(default_factory=list)
    _files_shown: set[str] = field(default_factory=set)
    _steps: dict[str, _AgentStep] = field(default_factory=dict)
    _usage_sent: bool = False

    def feed(self, event: object) -> list[AnswerPart]:
        if self.finished or not isinstance(event, dict):
            return []
        self._learn_envelope(event)
        handler = _HANDLERS.get(str(event.get("event")))
        if handler is not None:
            parts = handler(self, event)
        elif isinstance(event.get("answer"), str):
            parts = self._content(event["answer"])  # dify#36990: deltas may arrive under other event names
        else:
            parts = []
        if any(isinstance(p, Finish | Failure) for p in parts):
            self.finished = True
        return parts

    def close(self) -> list[AnswerPart]:
        """The stream ended: finish an answer whose closing event never came."""
        if self.finished:
            return []
        self.finished = True
        return [Finish("stop")]

    # ------------------------------------------------------------------ helpers

    def _learn_envelope(self, event: dict[str, Any]) -> None:
        env = self.envelope
        if not env.message_id and isinstance(event.get("message_id"), str):
            env.message_id = event["message_id"]
        if not env.conversation_id and isinstance(event.get("conversation_id"), str):
            env.conversation_id = event["conversation_id"]
        if not env.workflow_run_id and isinstance(event.get("workflow_run_id"), str):
            env.workflow_run_id = event["workflow_run_id"]
        if not env.created_at and isinstance(event.get("created_at"), int) and event["created_at"] > 0:
            env.created_at = event["created_at"]
        if not env.mode:
            if env.conversation_id:
                env.mode = "chat"
            elif env.message_id:
                env.mode = "completion"
            elif env.workflow_run_id:
                env.mode = "workflow"

    def _content(self, text: str) -> list[AnswerPart]:
        if not text:
            return []
        self._text.append(text)
        return [Text(text)]

    def _usage(self, usage: object) -> list[AnswerPart]:
        if self._usage_sent or not isinstance(usage, dict):
            return []
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        total = _int(usage.get("total_tokens")) or prompt + completion
        self._usage_sent = True
        return [TokenUsage(prompt, completion, total)]

    def _file_link(self, file: object) -> list[AnswerPart]:
        if not isinstance(file, dict):
            return []
        url = file.get("url") or file.get("remote_url")
        key = str(file.get("id") or url or "")
        if not isinstance(url, str) or not url or key in self._files_shown:
            return []
        self._files_shown.add(key)
        name = str(file.get("filename") or file.get("name") or "file")
        is_image = file.get("type") == "image" or str(file.get("mime_type", "")).startswith("image/")
        link = f"![{name if name != 'file' else 'image'}]({url})" if is_image else f"[{name}]({url})"
        separator = "\n\n" if self._text else ""
        return self._content(f"{separator}{link}")

    # ------------------------------------------------------------------ chat, agent and chatflow

    def on_message(self, event: dict[str, Any]) -> list[AnswerPart]:
        answer = event.get("answer")
        if not isinstance(answer, str):
            return []
        if self._agent_text:
            # The `agent` app mode closes with one `message` holding the whole answer it already streamed.
            streamed = "".join(self._agent_text)
            if answer == streamed:
                return []
            if answer.startswith(streamed):
                answer = answer[len(streamed):]
        # A blocking answer is one `message` with the whole text, its usage and sources (recorded: *_blocking).
        metadata = event.get("metadata")
        if not isinstance(metadata, dict):
            return self._content(answer)
        return [*self._content(answer), *self._usage(metadata.get("usage")),
                *_sources(metadata.get("retriever_resources"))]

    def on_agent_message(self, event: dict[str, Any]) -> list[AnswerPart]:
        answer = event.get("answer")
        if not isinstance(answer, str):
            return []
        self._agent_text.append(answer)
        return self._content(answer)

    def on_message_replace(self, event: dict[str, Any]) -> list[AnswerPart]:
        answer = event.get("answer")
        if not isinstance(answer, str):
            return []
        self._text = [answer]
        return [Replace(answer)]

    def on_message_file(self, event: dict[str, Any]) -> list[AnswerPart]:
        if isinstance(event.get("answer"), str):
            return self._content(event["answer"])
        if event.get("belongs_to") == "user":
            return []
        return self._file_link(event)

    def on_message_end(self, event: dict[str, Any]) -> list[AnswerPart]:
        parts: list[AnswerPart] = []
        for file in event.get("files") or []:
            parts += self._file_link(file)
        metadata = event.get("metadata")
        if isinstance(metadata, dict):
            parts += self._usage(metadata.get("usage"))
            parts += _sources(metadata.get("retriever_resources"))
        return [*parts, Finish("stop")]

    def on_agent_thought(self, event: dict[str, Any]) -> list[AnswerPart]:
        """A tool round trip, with the thought that led to it, as reasoning.

        Dify re-sends a thought with the same id as it fills in (the tool, then its observation), so each piece is
        shown once. A thought that calls no tool is the answer itself, already streamed as agent_message.
        """
        if not self.options.show_agent_steps:
            return []
        step = self._steps.setdefault(str(event.get("id") or event.get("position") or len(self._steps)),
                                      _AgentStep())
        parts: list[AnswerPart] = []
        tool = event.get("tool")
        if isinstance(tool, str) and tool and not step.tool_shown:
            step.tool_shown = True
            thought = event.get("thought")
            if isinstance(thought, str) and thought.strip():
                parts.append(Reasoning(f"{thought.strip()}\n", True))
            tool_input = _compact(event.get("tool_input"))
            parts.append(Reasoning(f"Calling tool {tool}" + (f" with {tool_input}" if tool_input else "") + "\n", True))
        observation = _compact(event.get("observation"))
        if observation and step.tool_shown and not step.observation_shown:
            step.observation_shown = True
            if len(observation) > _OBSERVATION_LIMIT:
                observation = observation[:_OBSERVATION_LIMIT] + "…"
            parts.append(Reasoning(f"Tool {tool} returned: {observation}\n\n", True))
        return parts

    def on_reasoning_chunk(self, event: dict[str, Any]) -> list[AnswerPart]:
        data = event.get("data")
        text = data.get("reasoning") if isinstance(data, dict) else None
        return [Reasoning(text)] if isinstance(text, str) and text else []

    # ------------------------------------------------------------------ workflow

    def on_text_chunk(self, event: dict[str, Any]) -> list[AnswerPart]:
        data = event.get("data")
        text = data.get("text") if isinstance(data, dict) else None
        return self._content(text) if isinstance(text, str) else []

    def on_workflow_finished(self, event: dict[str, Any]) -> list[AnswerPart]:
        data = event.get("data")
        if not isinstance(data, dict):
            data = {}
        status = data.get("status")
        if status == "failed":
            return [Failure(failures.workflow_failed(data.get("error")))]
        if self.envelope.mode == "chat" or self.envelope.message_id:
            return []  # chatflow: the answer and usage come with message_end, which may follow
        parts: list[AnswerPart] = []
        if not self._text:
            parts += self._content(select_output(data.get("outputs"), self.options.output_variable))
        total = _int(data.get("total_tokens"))
        parts += self._usage({"prompt_tokens": 0, "completion_tokens": total, "total_tokens": total})
        # A stopped run's answer is incomplete, which clients understand as a cut-off answer.
        return [*parts, Finish("length" if status == "stopped" else "stop")]

    def on_error(self, event: dict[str, Any]) -> list[AnswerPart]:
        return [Failure(failures.from_error_event(event))]

    def on_human_input(self, event: dict[str, Any]) -> list[AnswerPart]:
        return [Failure(failures.human_input_required(event))]


def _sources(resources: object) -> list[AnswerPart]:
    """Knowledge-base passages the answer drew on (present when the app shows its retrieval sources)."""
    if not isinstance(resources, list):
        return []
    items: list[Source] = []
    for index, resource in enumerate(resources, start=1):
        if not isinstance(resource, dict) or not isinstance(resource.get("content"), str):
            continue
        given = resource.get("doc_metadata")
        metadata: dict[str, Any] = given if isinstance(given, dict) else {}
        title = str(resource.get("document_name") or resource.get("title") or "document")
        # A crawled page may keep its address in the document's metadata, or be named by it.
        url = next((str(v) for v in (metadata.get("source_url"), metadata.get("url"), title)
                    if isinstance(v, str) and v.startswith(("https://", "http://"))), "")
        score = resource.get("score")
        items.append(Source(
            position=_int(resource.get("position")) or index,
            title=title,
            content=resource["content"],
            collection=str(resource.get("dataset_name") or ""),
            url=url,
            document_id=str(resource.get("document_id") or resource.get("segment_id") or ""),
            score=float(score) if isinstance(score, int | float) and not isinstance(score, bool)
            and math.isfinite(score) else None))
    return [Sources(tuple(items))] if items else []


def select_output(outputs: object, variable: str = "") -> str:
    """The answer of a workflow run that streamed no text: the chosen output variable, else a best guess."""
    if not isinstance(outputs, dict) or not outputs:
        return ""
    if variable:
        return _as_text(outputs.get(variable, ""))
    strings = {k: v for k, v in outputs.items() if isinstance(v, str)}
    if len(outputs) == 1:
        return _as_text(next(iter(outputs.values())))
    for key in _OUTPUT_KEYS:
        if key in strings:
            return strings[key]
    return json.dumps(outputs, ensure_ascii=False)


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _compact(value: object) -> str:
    if value is None or value == "" or value == {}:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


_HANDLERS: dict[str, Callable[[DifyEventTranslator, dict[str, Any]], list[AnswerPart]]] = {
    "message": DifyEventTranslator.on_message,
    "agent_message": DifyEventTranslator.on_agent_message,
    "message_replace": DifyEventTranslator.on_message_replace,
    "message_file": DifyEventTranslator.on_message_file,
    "message_end": DifyEventTranslator.on_message_end,
    "agent_thought": DifyEventTranslator.on_agent_thought,
    "reasoning_chunk": DifyEventTranslator.on_reasoning_chunk,
    "text_chunk": DifyEventTranslator.on_text_chunk,
    "workflow_finished": DifyEventTranslator.on_workflow_finished,
    "error": DifyEventTranslator.on_error,
    # Human Input nodes (human-in-the-loop): the run waits for a person; the request must end, not hang.
    "human_input_required": DifyEventTranslator.on_human_input,
    "workflow_paused": DifyEventTranslator.on_human_input,
}
