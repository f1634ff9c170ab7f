"""Running the Dify app for any OpenAI API: plan the call, start it, and read its answer as parts.

Chat Completions, Responses and legacy Completions differ only in how they parse requests and render answers;
everything between (conversation memory, inputs, files, the first-event wait, keep-alives, error mapping) is here.

Dify is always invoked in streaming mode, also for non-streaming requests, so long runs never hit Dify's blocking
time limits. A run is returned only once Dify's first event (or refusal) is in, so that a refusal before the run
starts is a real HTTP error the SDKs raise as such, while a slow start still lets a stream begin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openai_bridge.answer import AnswerPart, Failure
from openai_bridge.dify import failures
from openai_bridge.dify.call import (
    UUID_PATTERN,
    Continuation,
    DifyCall,
    Source,
    plan_chat_call,
    validate_conversation_id,
)
from openai_bridge.dify.failures import DifyFailure, FailureContext
from openai_bridge.dify.files import check_fits, extract_attachments, file_variable, to_file_inputs
from openai_bridge.dify.form import AppForm, AppFormCache
from openai_bridge.dify.transcript import last_user_index
from openai_bridge.errors import OpenAIError
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.memory.conversations import ConversationMemory, ResponseRecord, Thread, thread_of
from openai_bridge.ports import DifyPort
from openai_bridge.run.pipeline import AnswerPipeline
from openai_bridge.run.readers import KEEPALIVE, DirectEvents, EventPump, EventSource
from openai_bridge.settings import EndpointSettings, MemoryMode
from openai_bridge.wire.chat import ChatCompletionRequest, ChatMessage

logger = logging.getLogger(__name__)

CONVERSATION_HEADER = "X-Dify-Conversation-Id"
# At most this many waiting events are translated into one batch.
MAX_BATCH_EVENTS = 64


@dataclass(frozen=True)
class Timing:
    first_event_wait: float = 5.0  # how long an error may still become a real HTTP status
    keepalive_interval: float = 10.0  # clients and proxies give up on silent streams after 15 s or more

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Timing:
        """Operators (and tests) may tune both through OPENAI_BRIDGE_FIRST_EVENT_WAIT / _KEEPALIVE_INTERVAL."""
        def seconds(name: str, default: float) -> float:
            try:
                value = float(env.get(name, default))
            except ValueError:
                return default
            return value if 0 < value <= 300 else default

        return cls(seconds("OPENAI_BRIDGE_FIRST_EVENT_WAIT", cls.first_event_wait),
                   seconds("OPENAI_BRIDGE_KEEPALIVE_INTERVAL", cls.keepalive_interval))


def caller_identity(request: IncomingRequest, chat: ChatCompletionRequest) -> str:
    """Who is talking: Dify runs every plugin call as one anonymous user, so threads are kept apart here."""
    key = hashlib.sha256(request.header("Authorization").encode()).hexdigest()[:16]
    user = json.dumps(chat.user, sort_keys=True, ensure_ascii=False, default=str)
    return f"{key}|{user}|{request.header('X-OpenWebUI-User-Id')}"


def requested_conversation(request: IncomingRequest, chat: ChatCompletionRequest) -> Continuation | None:
    """A Dify conversation the caller names explicitly (body `conversation_id` or the header), validated."""
    if chat.conversation_id:
        return Continuation(validate_conversation_id(chat.conversation_id, "conversation_id"), Source.CLIENT,
                            "conversation_id")
    header = request.header(CONVERSATION_HEADER)
    if not header:
        return None
    return Continuation(validate_conversation_id(header, CONVERSATION_HEADER), Source.CLIENT, CONVERSATION_HEADER)


def conversation_header(conversation_id: str) -> dict[str, str]:
    # The id comes from Dify's events: only a well-formed one goes into a header (no CR/LF injection).
    if not conversation_id or not UUID_PATTERN.match(conversation_id):
        return {}
    return {CONVERSATION_HEADER: conversation_id}


@dataclass
class AppRun:
    """A started Dify run: its first parts are translated, the rest is read on demand."""

    pump: EventSource
    pipeline: AnswerPipeline
    first_parts: list[AnswerPart]
    memory: ConversationMemory
    # The thread to remember the answer under (the messages up to the new user message), and the history it
    # continued, which the answer consumes; None when this request keeps no thread memory.
    thread: list[ChatMessage] | None = None
    continued: Thread | None = None
    caller: str = ""
    context: FailureContext = field(default_factory=FailureContext)
    started_at: float = field(default_factory=time.monotonic)
    # Whether Dify's first event is in; a run handed over before it (a slow start) begins its stream silently.
    heard: bool = True
    _unnamed: str = field(default_factory=lambda: uuid.uuid4().hex)  # the id of a run Dify never named

    def identity(self, prefix: str) -> tuple[str, int, str]:
        """Response id (from Dify's message or run id), creation time and Dify conversation id."""
        env = self.pipeline.envelope
        run_id = env.message_id or env.workflow_run_id or self._unnamed
        return f"{prefix}{run_id}", env.created_at or int(time.time()), env.conversation_id

    def batches(self, keepalive_after: float | None) -> Iterator[list[AnswerPart] | object]:
        """Lists of answer parts as Dify sends events; KEEPALIVE after `keepalive_after` seconds of silence.

        Events already waiting when one arrives join its list, so a burst is written to the client at once (one
        stdio line instead of one per event); nothing ever waits for more events.
        """
        try:
            yield self.first_parts if self.heard else KEEPALIVE
            ended = False
            while not ended and not self.pipeline.finished:
                parts, ended = self._next(keepalive_after)
                if parts is KEEPALIVE:
                    yield KEEPALIVE
                    continue
                waiting = MAX_BATCH_EVENTS
                while not ended and not self.pipeline.finished and waiting and self.pump.ready():
                    more, ended = self._next(0)
                    if more is KEEPALIVE:
                        break
                    parts += more  # type: ignore[operator]
                    waiting -= 1
                yield parts
        finally:
            self.pump.close()

    def _next(self, timeout: float | None) -> tuple[list[AnswerPart] | object, bool]:
        """The parts of Dify's next event (KEEPALIVE after `timeout` s of silence), and whether the stream ended."""
        try:
            event = self.pump.next(timeout)
        except StopIteration:
            self.heard = True
            return self.pipeline.close(), True
        except Exception as exc:  # noqa: BLE001 - a broken stream is an upstream failure
            context = FailureContext(True, self.context.conversation_id, elapsed=time.monotonic() - self.started_at,
                                     conversational=self.context.conversational)
            return [Failure(failures.from_exception(exc, context))], True
        if event is KEEPALIVE:
            return KEEPALIVE, False
        self.heard = True
        return self.pipeline.feed(event), False

    def remember(self) -> None:
        """Store the finished turn so the thread's next request continues the same Dify conversation."""
        conversation_id = self.pipeline.envelope.conversation_id
        if self.thread is None or not conversation_id:
            return
        after = thread_of(self.caller, [*self.thread, ChatMessage(role="assistant", content=self.pipeline.answer)])
        if after is not None:
            self.memory.advance(self.continued, after, conversation_id)


@dataclass(frozen=True)
class _Refusal:
    """Dify refused the call before its first event."""

    failure: DifyFailure | None  # None when the refusal came as an event (an `error` first)
    error: OpenAIError


def start_app_run(request: IncomingRequest, chat: ChatCompletionRequest, settings: EndpointSettings,
                  dify: DifyPort, forms: AppFormCache, timing: Timing, named: Continuation | None = None, *,
                  earlier_turns: Sequence[str] = (), keep_thread: bool = True) -> AppRun | HttpResponse:
    """Plan the Dify call for `chat` and start it; an HttpResponse when it cannot start.

    `named`: the conversation the request itself continues (a client id or a previous response's); otherwise thread
    memory looks one up. `keep_thread`: whether this API keeps thread memory at all.
    """
    form = forms.get(settings.app_id, dify.fetch_app_parameters)
    attachments = extract_attachments(chat)
    variable = file_variable(form, settings.file_variable)
    check_fits(attachments, form, variable, settings.file_variable)
    memory = ConversationMemory(dify, dify.endpoint_id, settings.app_id)
    caller = caller_identity(request, chat)
    file_inputs = {}
    if attachments and variable is not None:
        try:
            file_inputs = to_file_inputs(attachments, variable, dify.upload_file)
        except Exception as exc:  # noqa: BLE001 - Dify refusing the upload is Dify's failure, or its settings'
            return HttpResponse.error(failures.upload_failed(exc, attachments[0].param))

    thread: list[ChatMessage] | None = None
    continued: Thread | None = None
    continuation = named
    if keep_thread and named is None and settings.memory_mode is MemoryMode.CONVERSATION:
        last = last_user_index(chat.messages)
        thread = chat.messages[: last + 1]
        continued = thread_of(caller, chat.messages[:last])
        found = memory.find(continued) if continued is not None else None
        continuation = Continuation(found, Source.MEMORY) if found else None

    def attempt(continuation: Continuation | None, earlier: Sequence[str]) -> tuple[
            AnswerPipeline, FailureContext, tuple[EventSource, list[AnswerPart] | None] | _Refusal]:
        call = plan_chat_call(chat, settings, form, continuation=continuation, earlier_turns=earlier,
                              extra_inputs=file_inputs)
        pipeline = AnswerPipeline(settings, [chat.stop] if isinstance(chat.stop, str) else list(chat.stop or []),
                                  streaming=bool(chat.stream))
        context = _context_of(continuation, form)
        return pipeline, context, _first_event(dify, call, pipeline, timing, context, bool(chat.stream))

    pipeline, context, started = attempt(continuation, earlier_turns)
    if isinstance(started, _Refusal) and _dify_forgot(continuation, started):
        assert continuation is not None
        logger.info("Dify no longer knows conversation %s (%s); continuing in a new, seeded one",
                    continuation.conversation_id, continuation.source)
        earlier = _forget(memory, continuation) or earlier_turns
        pipeline, context, started = attempt(None, earlier)
    if isinstance(started, _Refusal):
        return HttpResponse.error(started.error)
    pump, first_parts = started
    return AppRun(pump, pipeline, first_parts or [], memory, thread, continued, caller, context,
                  heard=first_parts is not None)


def _context_of(continuation: Continuation | None, form: AppForm) -> FailureContext:
    return FailureContext(
        conversation_id=continuation.conversation_id if continuation else None,
        conversation_param=continuation.param if continuation else None,
        conversational=form.conversational)


def _dify_forgot(continuation: Continuation | None, refusal: _Refusal) -> bool:
    """Dify refused a conversation the plugin itself remembered: the thread goes on in a new one."""
    return (continuation is not None and continuation.source is not Source.CLIENT and refusal.failure is not None
            and failures.is_unknown_conversation(refusal.failure))


def _forget(memory: ConversationMemory, continuation: Continuation) -> list[str]:
    """Forget a conversation Dify refused; the dialogue to seed its successor with, when the request lacks it."""
    if continuation.source is not Source.RESPONSE:
        return []  # a chat thread's request carries its whole history; the consumed entry is replaced later
    record = memory.find_response(continuation.response_id)
    memory.forget_response_conversation(continuation.response_id)
    return memory.chain_history(record) if isinstance(record, ResponseRecord) else []


def _first_event(dify: DifyPort, call: DifyCall, pipeline: AnswerPipeline, timing: Timing,
                 context: FailureContext, streaming: bool) -> tuple[EventSource, list[AnswerPart] | None] | _Refusal:
    """The running call and the parts of its first event (None when Dify said nothing in time), or its refusal."""
    def invoke() -> Iterator[dict[str, Any]]:
        return dify.invoke_app(call.app_id, call.query, call.inputs, call.conversation_id)

    # A stream reads Dify on a helper thread, so it can send keep-alives and begin before a slow first event.
    pump: EventSource = EventPump(invoke) if streaming else DirectEvents(invoke)
    try:
        first = pump.next(timing.first_event_wait)
    except StopIteration:
        return pump, pipeline.close()
    except Exception as exc:  # noqa: BLE001 - any refusal from Dify becomes an OpenAI error
        pump.close()
        failure = failures.parse_exception_text(str(exc))
        return _Refusal(failure, failures.classify(failure, context))
    if first is KEEPALIVE:
        return pump, None
    parts = pipeline.feed(first)
    failed = next((p for p in parts if isinstance(p, Failure)), None)
    if failed is not None:
        pump.close()
        return _Refusal(None, failed.error)
    return pump, parts
