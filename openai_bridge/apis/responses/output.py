"""Answer parts -> a Responses API `Response`, announcing every step as the stream event that describes it.

One builder serves both delivery modes, so a stream and a whole response always hold the same output: the
stream writer sends the events, a non-streaming request ignores them and returns `response()`.

Output items follow the answer in order: reasoning (`<think>` blocks, agent steps) is a `reasoning` item, the
answer a `message` item, and an agent that thinks again after it started answering opens a new item of the
other kind, as the Responses API does between tool rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from openai_bridge.answer import AnswerPart, Finish, Reasoning, Replace, Source, Sources, Text, TokenUsage
from openai_bridge.apis.citations import source_documents
from openai_bridge.errors import OpenAIError
from openai_bridge.wire.responses import (
    Annotation,
    AnnotationAddedEvent,
    ContentPartEvent,
    FileCitation,
    IncompleteDetails,
    ItemStatus,
    LifecycleEvent,
    OutputItem,
    OutputItemEvent,
    OutputMessage,
    OutputText,
    ReasoningOutput,
    Response,
    ResponseError,
    ResponseEvent,
    ResponsesRequest,
    ResponseStatus,
    ResponseUsage,
    SummaryDeltaEvent,
    SummaryDoneEvent,
    SummaryPartEvent,
    SummaryText,
    TextDeltaEvent,
    TextDoneEvent,
    UrlCitation,
)

ItemKind = Literal["message", "reasoning"]
_ID_PREFIX: dict[ItemKind, str] = {"message": "msg", "reasoning": "rs"}
# Dify's finish reasons that leave a response incomplete, as the Responses API names them.
IncompleteReason = Literal["max_output_tokens", "content_filter"]
_INCOMPLETE: dict[str, IncompleteReason] = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True)
class ResponseEcho:
    """What a response repeats of its request."""

    model: str
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool = True
    user: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: ResponsesRequest) -> ResponseEcho:
        metadata = request.metadata if isinstance(request.metadata, dict) and all(
            isinstance(v, str) for v in request.metadata.values()) else {}
        return cls(request.model, request.instructions, request.previous_response_id, request.store is not False,
                   request.user if isinstance(request.user, str) else None, metadata)


@dataclass
class _OpenItem:
    kind: ItemKind
    id: str
    index: int
    chunks: list[str] = field(default_factory=list)


def _failure_code(error: OpenAIError) -> str:
    # The SDK's Response model accepts only OpenAI's own codes here, so the plugin's precise code
    # (app_run_failed, upstream_timeout...) cannot travel; the message says what happened.
    return "rate_limit_exceeded" if error.status == 429 else "server_error"


class ResponseBuilder:
    def __init__(self, response_id: str, created_at: int, echo: ResponseEcho) -> None:
        self.response_id = response_id
        self._item_base = response_id.removeprefix("resp_")
        self._created_at = created_at
        self._echo = echo
        self.output: list[OutputItem] = []
        self._open: _OpenItem | None = None
        self._opened = 0
        self._usage = ResponseUsage()
        self._incomplete: IncompleteReason | None = None
        self._sources: tuple[Source, ...] = ()
        self.error: OpenAIError | None = None
        self.status: ResponseStatus = "in_progress"

    def response(self) -> Response:
        output = list(self.output)
        if self._open is not None:  # a failed run leaves its last item unfinished
            output.append(self._item(self._open, "incomplete"))
        ended = self.status != "in_progress"
        return Response(
            id=self.response_id, created_at=self._created_at, status=self.status, output=output,
            error=ResponseError(code=_failure_code(self.error), message=self.error.message) if self.error else None,
            incomplete_details=IncompleteDetails(reason=self._incomplete) if self._incomplete else None,
            usage=self._usage if ended else None, model=self._echo.model, instructions=self._echo.instructions,
            previous_response_id=self._echo.previous_response_id, store=self._echo.store, user=self._echo.user,
            metadata=self._echo.metadata, sources=source_documents(self._sources) or None)

    def start(self) -> list[ResponseEvent]:
        return [LifecycleEvent(type="response.created", response=self.response()),
                LifecycleEvent(type="response.in_progress", response=self.response())]

    def add(self, part: AnswerPart) -> list[ResponseEvent]:
        if self.status != "in_progress":
            return []
        if isinstance(part, Text):
            return self._write("message", part.text)
        if isinstance(part, Reasoning):
            return self._write("reasoning", part.text) if part.text else []
        if isinstance(part, Replace):
            return self._replace(part.text)
        if isinstance(part, TokenUsage):
            self._usage = ResponseUsage(input_tokens=part.prompt_tokens, output_tokens=part.completion_tokens,
                                        total_tokens=part.total_tokens)
            return []
        if isinstance(part, Sources):
            self._sources = part.items
            return []
        if isinstance(part, Finish):
            return self._finish(part.reason)
        self.error = part.error
        self.status = "failed"
        return [LifecycleEvent(type="response.failed", response=self.response())]

    def _replace(self, text: str) -> list[ResponseEvent]:
        """A whole answer that moderation replaced (a stream gets the replacement as more text)."""
        if self._open is not None and self._open.kind == "message":
            self._open = None
        self.output = [item for item in self.output if item.type != "message"]
        return self._write("message", text)

    def _finish(self, reason: str) -> list[ResponseEvent]:
        events = self._close(cite=True)
        if not any(item.type == "message" for item in self.output):
            events += self._open_item("message") + self._close()  # clients expect a message, even an empty one
        self._incomplete = self._incomplete or _INCOMPLETE.get(reason)
        self.status = "incomplete" if self._incomplete else "completed"
        ended: Literal["response.incomplete", "response.completed"] = \
            "response.incomplete" if self.status == "incomplete" else "response.completed"
        return [*events, LifecycleEvent(type=ended, response=self.response())]

    # ------------------------------------------------------------------ items

    def _write(self, kind: ItemKind, text: str) -> list[ResponseEvent]:
        events: list[ResponseEvent] = []
        if self._open is None or self._open.kind != kind:
            events += self._close() + self._open_item(kind)
        item = self._open
        assert item is not None
        item.chunks.append(text)
        if kind == "message":
            events.append(TextDeltaEvent.model_construct(item_id=item.id, output_index=item.index, content_index=0,
                                                         delta=text, logprobs=[], sequence_number=0))
        else:
            events.append(SummaryDeltaEvent.model_construct(item_id=item.id, output_index=item.index,
                                                            summary_index=0, delta=text, sequence_number=0))
        return events

    def _open_item(self, kind: ItemKind) -> list[ResponseEvent]:
        item = _OpenItem(kind, f"{_ID_PREFIX[kind]}_{self._item_base}_{self._opened}", len(self.output))
        self._opened += 1
        self._open = item
        added = OutputItemEvent(type="response.output_item.added", output_index=item.index,
                                item=self._item(item, "in_progress", empty=True))
        if kind == "message":
            return [added, ContentPartEvent(type="response.content_part.added", item_id=item.id,
                                            output_index=item.index, part=OutputText(text=""))]
        return [added, SummaryPartEvent(type="response.reasoning_summary_part.added", item_id=item.id,
                                        output_index=item.index, part=SummaryText(text=""))]

    def _close(self, cite: bool = False) -> list[ResponseEvent]:
        """Finish the open item; `cite`: it is the answer's last, which the knowledge-base sources annotate."""
        item = self._open
        if item is None:
            return []
        self._open = None
        text = "".join(item.chunks)
        annotations = _annotations(self._sources, text) if cite and item.kind == "message" else []
        done = self._item(item, "completed", annotations=annotations)
        self.output.append(done)
        finished = OutputItemEvent(type="response.output_item.done", output_index=item.index, item=done)
        if item.kind == "message":
            cited: list[ResponseEvent] = [
                AnnotationAddedEvent(item_id=item.id, output_index=item.index, annotation_index=index,
                                     annotation=annotation) for index, annotation in enumerate(annotations)]
            return [*cited, TextDoneEvent(item_id=item.id, output_index=item.index, text=text),
                    ContentPartEvent(type="response.content_part.done", item_id=item.id, output_index=item.index,
                                     part=OutputText(text=text, annotations=annotations)),
                    finished]
        return [SummaryDoneEvent(item_id=item.id, output_index=item.index, text=text),
                SummaryPartEvent(type="response.reasoning_summary_part.done", item_id=item.id,
                                 output_index=item.index, part=SummaryText(text=text)),
                finished]

    @staticmethod
    def _item(item: _OpenItem, status: ItemStatus, empty: bool = False,
              annotations: list[Annotation] | None = None) -> OutputItem:
        text = "".join(item.chunks)
        if item.kind == "message":
            return OutputMessage(id=item.id, status=status,
                                 content=[] if empty else [OutputText(text=text, annotations=annotations or [])])
        return ReasoningOutput(id=item.id, status=status, summary=[] if empty else [SummaryText(text=text)])


def _annotations(sources: tuple[Source, ...], text: str) -> list[Annotation]:
    """The sources as the Responses API cites: a web page by URL over the whole answer, a knowledge-base document
    by its Dify id at the answer's end (Dify does not say which sentence drew on which passage); one citation per
    document however many of its passages were used."""
    cited: dict[str, Annotation] = {}
    for s in sources:
        if s.url:
            cited.setdefault(s.url, UrlCitation(url=s.url, title=s.title, start_index=0, end_index=len(text)))
        else:
            file_id = s.document_id or f"source-{s.position}"
            cited.setdefault(file_id, FileCitation(file_id=file_id, filename=s.title, index=len(text)))
    return list(cited.values())
