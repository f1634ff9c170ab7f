"""Dify events in, finished answer parts out: translation, `<think>` splitting and `stop` cutting in one place."""

from __future__ import annotations

from openai_bridge.answer import AnswerPart, Failure, Finish, Reasoning, Replace, Source, Sources, Text
from openai_bridge.dify.events import DifyEventTranslator, Envelope, TranslatorOptions
from openai_bridge.run.stop import StopCutter
from openai_bridge.run.think import ThinkSplitter
from openai_bridge.settings import CitationMode, EndpointSettings, ReasoningMode

# Each streamed frame travels as one hex-encoded stdio line between the plugin and Dify's daemon; a huge single
# Dify event (a multi-megabyte answer) is re-chunked so no line grows past a few hundred kilobytes.
MAX_PART_CHARS = 32 * 1024


def _rechunk(parts: list[AnswerPart]) -> list[AnswerPart]:
    out: list[AnswerPart] = []
    for part in parts:
        if isinstance(part, Text | Reasoning) and len(part.text) > MAX_PART_CHARS:
            kind = type(part)
            pieces = [part.text[i:i + MAX_PART_CHARS] for i in range(0, len(part.text), MAX_PART_CHARS)]
            out += [Text(p) if kind is Text else Reasoning(p, part.from_agent_steps) for p in pieces]  # type: ignore[union-attr]
        else:
            out.append(part)
    return out


class AnswerPipeline:
    """`streaming`: the answer goes out as it comes, so what was sent cannot be taken back (see `_moderate`)."""

    def __init__(self, settings: EndpointSettings, stop: list[str] | None = None, streaming: bool = False) -> None:
        self._streaming = streaming
        self._replaced = False
        self._translator = DifyEventTranslator(TranslatorOptions(settings.show_agent_steps, settings.output_variable))
        self._think = ThinkSplitter(settings.reasoning_mode)
        self._drop_reasoning = settings.reasoning_mode is ReasoningMode.DROP
        self._stop = StopCutter(stop or [])
        self._citations = settings.citations
        self._sources: Sources | None = None  # held until the answer is complete, then cited after it
        self.finished = False
        self._answer: list[str] = []

    @property
    def answer(self) -> str:
        """The answer text sent so far, as the client will hold it."""
        return "".join(self._answer)

    @property
    def envelope(self) -> Envelope:
        return self._translator.envelope

    def feed(self, event: object) -> list[AnswerPart]:
        if self.finished:
            return []
        return self._refine(self._translator.feed(event))

    def close(self) -> list[AnswerPart]:
        if self.finished:
            return []
        return self._refine(self._translator.close())

    def _refine(self, parts: list[AnswerPart]) -> list[AnswerPart]:
        out = _rechunk(self._refine_parts(parts))
        for part in out:
            if isinstance(part, Text):
                self._answer.append(part.text)
            elif isinstance(part, Replace):
                self._answer = [part.text]
        return out

    def _refine_parts(self, parts: list[AnswerPart]) -> list[AnswerPart]:
        out: list[AnswerPart] = []
        for part in parts:
            if isinstance(part, Text):
                if not self._replaced:
                    self._cut(self._think.feed(part.text), out)
            elif isinstance(part, Reasoning):
                # Agent steps are governed by their own setting; only the model's reasoning obeys "drop".
                if part.from_agent_steps or not self._drop_reasoning:
                    out.append(part)
            elif isinstance(part, Replace):
                out.append(self._moderate(part))
            elif isinstance(part, Sources):
                self._sources = part if self._citations is not CitationMode.OFF and part.items else None
            elif isinstance(part, Finish | Failure):
                self._cut(self._think.flush(), out)
                tail = self._stop.flush() if not self._stop.stopped else ""
                if tail:
                    out.append(Text(tail))
                if isinstance(part, Finish) and self._sources is not None and not self._replaced:
                    out += self._cite(self._sources, bool(self._answer) or any(isinstance(p, Text) for p in out))
                out.append(Finish("content_filter") if self._replaced and isinstance(part, Finish) else part)
                self.finished = True
            else:
                out.append(part)
            if self._stop.stopped and not self.finished:
                out.append(Finish("stop"))
                self.finished = True
            if self.finished:
                break
        return out

    def _cite(self, sources: Sources, after_text: bool) -> list[AnswerPart]:
        """The sources as answer parts: as they are for the API to place, or as a list of documents after the
        answer's text (a moderated answer cites nothing: its text is not the model's)."""
        if self._citations is CitationMode.FIELDS:
            return [sources]
        documents: dict[str, Source] = {}
        for source in sources.items:  # one line per document, however many of its passages were used
            documents.setdefault(source.url or source.document_id or source.title, source)
        lines = [f"{number}. {_markdown_reference(s)}" for number, s in enumerate(documents.values(), 1)]
        return [Text(("\n\n" if after_text else "") + "Sources:\n" + "\n".join(lines))]

    def _moderate(self, replace: Replace) -> AnswerPart:
        """Dify's output moderation replaced the answer: a whole answer takes the replacement instead; a stream
        has shown the text already, so the replacement follows it. Either way the replacement is final."""
        self._replaced = True
        self._think.flush()
        self._stop.flush()
        if not self._streaming:
            return replace
        return Text(f"\n\n{replace.text}" if self._answer else replace.text)

    def _cut(self, parts: list[AnswerPart], out: list[AnswerPart]) -> None:
        for part in parts:
            if isinstance(part, Text):
                ready = self._stop.feed(part.text)
                if ready:
                    out.append(Text(ready))
                if self._stop.stopped:
                    return
            else:
                out.append(part)


def _markdown_reference(source: Source) -> str:
    # A title is the document's name as uploaded: brackets and line breaks in it would break the list's markdown.
    title = " ".join(source.title.split()).replace("[", "(").replace("]", ")") or "document"
    collection = " ".join(source.collection.split())
    url = source.url.replace(">", "%3E").replace(" ", "%20")
    named = f"[{title}](<{url}>)" if url else title
    return f"{named} ({collection})" if collection else named
