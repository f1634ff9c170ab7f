"""Starting a Dify run for any OpenAI API: which conversation it continues, the call it makes, its first event.

Chat Completions, Responses and legacy Completions differ only in how they parse requests and render answers;
everything between (conversation memory, inputs, files, the first-event wait, error mapping) starts here.

Dify is always invoked in streaming mode, also for non-streaming requests. A run is handed over only once Dify's
first event (or refusal) is in, so that a refusal before the run starts is a real HTTP error the SDKs raise as such,
while a slow start still lets a stream begin. A refusal is raised as the OpenAIError it maps to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openai_bridge.answer import AnswerPart, Failure
from openai_bridge.clients.open_webui import without_attached_files
from openai_bridge.dify import failures
from openai_bridge.dify.call import Caller, Continuation, DifyCall, Source, plan_chat_call
from openai_bridge.dify.failures import DifyFailure, FailureContext
from openai_bridge.dify.files import (
    accepts_query_files,
    as_input,
    check_fits,
    extract_attachments,
    file_variable,
    to_file_mappings,
)
from openai_bridge.dify.form import AppForm, AppFormCache
from openai_bridge.dify.transcript import last_user_index
from openai_bridge.errors import OpenAIError
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.memory.conversations import ConversationMemory, ResponseRecord, Thread, thread_of
from openai_bridge.ports import DifyPort
from openai_bridge.run.pipeline import AnswerPipeline
from openai_bridge.run.readers import KEEPALIVE, DirectReader, EventSource, ThreadedReader
from openai_bridge.run.run import Run
from openai_bridge.run.timing import Timing
from openai_bridge.settings import EndpointSettings, MemoryMode
from openai_bridge.wire.chat import ChatCompletionRequest, ChatMessage
from openai_bridge.wire.extensions import CONVERSATION_HEADER, validate_conversation_id

logger = logging.getLogger(__name__)


def thread_owner(request: IncomingRequest, chat: ChatCompletionRequest) -> str:
    """Whose threads these are: Dify runs every plugin call as one anonymous user, so threads are kept apart here."""
    key = hashlib.sha256(request.header("Authorization").encode()).hexdigest()[:16]
    user = json.dumps(chat.user, sort_keys=True, ensure_ascii=False, default=str)
    return f"{key}|{user}|{request.header('X-OpenWebUI-User-Id')}"


OPEN_WEBUI_USER = "X-OpenWebUI-User-"


def caller_of(request: IncomingRequest, chat: ChatCompletionRequest) -> Caller:
    """Who is asking: Open WebUI's user headers (when its admin forwards them), else the OpenAI `user` field."""
    headers = {field: request.header(OPEN_WEBUI_USER + field.capitalize()).strip()
               for field in ("id", "name", "email", "role")}
    # Open WebUI percent-encodes the name, which may hold any character, to keep it a valid header value.
    headers["name"] = urllib.parse.unquote(headers["name"])
    if any(headers.values()):
        return Caller(**headers)
    user = chat.user
    if isinstance(user, dict):  # Open WebUI pipelines send the user as an object
        return Caller(*(str(user.get(field) or "") for field in ("id", "name", "email", "role")))
    return Caller(user.strip()) if isinstance(user, str) else Caller()


def named_conversation(request: IncomingRequest, chat: ChatCompletionRequest) -> Continuation | None:
    """A Dify conversation the caller names explicitly (body `conversation_id` or the header), validated."""
    if chat.conversation_id:
        return Continuation(validate_conversation_id(chat.conversation_id, "conversation_id"), Source.CLIENT,
                            "conversation_id")
    header = request.header(CONVERSATION_HEADER)
    if not header:
        return None
    return Continuation(validate_conversation_id(header, CONVERSATION_HEADER), Source.CLIENT, CONVERSATION_HEADER)


@dataclass(frozen=True)
class _Refusal:
    """Dify refused the call before its first event."""

    failure: DifyFailure | None  # None when the refusal came as an event (an `error` first)
    error: OpenAIError


def dify_user(owner: str, caller: Caller) -> str:
    """The Dify end user the call runs as, where the Dify API lets the caller choose it (the Service API; plugin
    calls all run as one anonymous user): the caller's own id, readable in Dify's logs, else one derived from whose
    threads these are. Either way the same for every turn of a thread, as Dify's conversations belong to a user."""
    return caller.id[:255] if caller.id else "openai-" + hashlib.sha256(owner.encode()).hexdigest()[:24]


def start_run(request: IncomingRequest, chat: ChatCompletionRequest, settings: EndpointSettings,
              dify: DifyPort, forms: AppFormCache, timing: Timing, named: Continuation | None = None, *,
              earlier_turns: Sequence[str] = (), keep_thread: bool = True) -> Run:
    """Plan the Dify call for `chat` and start it; raises the OpenAIError of a call that cannot start.

    `named`: the conversation the request itself continues (a client id or a previous response's); otherwise thread
    memory looks one up. `keep_thread`: whether this API keeps thread memory at all.
    """
    chat, image_names = without_attached_files(chat)
    form = forms.get(settings.app_id, dify.fetch_app_parameters)
    attachments = extract_attachments(chat, image_names)
    variable = file_variable(form, settings.file_variable)
    # Files go into the app's file input; an app without one takes them with the query where the Dify API can.
    with_query = variable is None and dify.accepts_query_files and accepts_query_files(form)
    if not with_query:
        check_fits(attachments, form, variable, settings.file_variable)
    memory = ConversationMemory(dify, dify.endpoint_id, settings.app_id)
    owner = thread_owner(request, chat)
    caller = caller_of(request, chat)
    user = dify_user(owner, caller)
    file_inputs: dict[str, Any] = {}
    query_files: list[dict[str, Any]] = []
    if attachments:
        try:
            mappings = to_file_mappings(attachments, lambda name, content, mimetype: dify.upload_file(
                settings.app_id, name, content, mimetype, user))
        except Exception as exc:  # noqa: BLE001 - Dify refusing the upload is Dify's failure, or its settings'
            raise failures.upload_failed(exc, attachments[0].param) from exc
        if variable is not None and not with_query:
            file_inputs = as_input(variable, mappings)
        else:
            query_files = mappings

    thread: list[ChatMessage] | None = None
    continued: Thread | None = None
    continuation = named
    if keep_thread and named is None and settings.memory_mode is MemoryMode.CONVERSATION:
        last = last_user_index(chat.messages)
        thread = chat.messages[: last + 1]
        continued = thread_of(owner, chat.messages[:last])
        found = memory.find(continued) if continued is not None else None
        continuation = Continuation(found, Source.MEMORY) if found else None

    def attempt(continuation: Continuation | None, earlier: Sequence[str]) -> tuple[
            AnswerPipeline, FailureContext, tuple[EventSource, list[AnswerPart] | None] | _Refusal]:
        call = plan_chat_call(chat, settings, form, continuation=continuation, earlier_turns=earlier,
                              extra_inputs=file_inputs, caller=caller, user=user, files=query_files)
        pipeline = AnswerPipeline(settings, [chat.stop] if isinstance(chat.stop, str) else list(chat.stop or []),
                                  streaming=bool(chat.stream))
        context = _context_of(continuation, form, dify.runs_text_generators)
        return pipeline, context, _first_event(dify, call, pipeline, timing, context, bool(chat.stream))

    pipeline, context, started = attempt(continuation, earlier_turns)
    if isinstance(started, _Refusal) and _dify_forgot(continuation, started):
        assert continuation is not None
        logger.info("Dify no longer knows conversation %s (%s); continuing in a new, seeded one",
                    continuation.conversation_id, continuation.source)
        earlier = _forget(memory, continuation) or earlier_turns
        pipeline, context, started = attempt(None, earlier)
    if isinstance(started, _Refusal):
        raise started.error
    reader, first_parts = started
    return Run(reader, pipeline, first_parts or [], memory, thread, continued, owner, context,
                  heard=first_parts is not None)


def _context_of(continuation: Continuation | None, form: AppForm, runs_text_generators: bool) -> FailureContext:
    return FailureContext(
        conversation_id=continuation.conversation_id if continuation else None,
        conversation_param=continuation.param if continuation else None,
        conversational=form.conversational, runs_text_generators=runs_text_generators)


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
        return dify.invoke_app(call)

    # A stream reads Dify on a helper thread, so it can send keep-alives and begin before a slow first event.
    reader: EventSource = ThreadedReader(invoke) if streaming else DirectReader(invoke)
    try:
        first = reader.next(timing.first_event_wait)
    except StopIteration:
        return reader, pipeline.close()
    except Exception as exc:  # noqa: BLE001 - any refusal from Dify becomes an OpenAI error
        reader.close()
        failure = failures.failure_of(exc)
        return _Refusal(failure, failures.classify(failure, context))
    if first is KEEPALIVE:
        return reader, None
    parts = pipeline.feed(first)
    failed = next((p for p in parts if isinstance(p, Failure)), None)
    if failed is not None:
        reader.close()
        return _Refusal(None, failed.error)
    return reader, parts
