"""Dify's retriever resources -> Sources parts -> each API's citation fields, and the markdown list."""

from __future__ import annotations

from openai_bridge.answer import Finish, Source, Sources, Text
from openai_bridge.apis.chat.completion import ChatResponseBuilder
from openai_bridge.apis.chat.stream import ChatStreamWriter
from openai_bridge.apis.citations import url_annotations
from openai_bridge.dify.events import DifyEventTranslator, TranslatorOptions
from openai_bridge.run.pipeline import AnswerPipeline
from openai_bridge.settings import CitationMode, EndpointSettings

RESOURCES = [
    {"position": 1, "dataset_name": "HR", "document_id": "d-1", "document_name": "Handbook.pdf",
     "content": "25 days.", "score": 0.9, "doc_metadata": None},
    {"position": 2, "dataset_name": "Web", "document_id": "d-2", "document_name": "Policy",
     "content": "Portal.", "score": None, "doc_metadata": {"source_url": "https://example.com/p"}},
]


def end(resources, **extra):
    return {"event": "message_end", "metadata": {"retriever_resources": resources, **extra}}


def sources_of(events):
    translator = DifyEventTranslator(TranslatorOptions())
    parts = [p for e in events for p in translator.feed(e)]
    return [p for p in parts if isinstance(p, Sources)]


def test_retriever_resources_become_sources_with_the_page_url():
    [sources] = sources_of([end(RESOURCES)])
    handbook, page = sources.items
    assert handbook == Source(1, "Handbook.pdf", "25 days.", "HR", "", "d-1", 0.9)
    assert (page.url, page.score) == ("https://example.com/p", None)


def test_a_blocking_answer_carries_its_sources_too():
    [sources] = sources_of([{"event": "message", "answer": "x", "metadata": {"retriever_resources": RESOURCES}}])
    assert len(sources.items) == 2


def test_malformed_resources_are_skipped_not_fatal():
    junk = [None, "x", {"content": 7}, {"document_name": "no content"},
            {"content": "kept", "score": float("nan"), "position": True, "doc_metadata": {"url": "ftp://x"}},
            {"content": "named by its address", "document_name": "https://example.org/a"}]
    [sources] = sources_of([end(junk)])
    kept, named = sources.items
    assert (kept.title, kept.score, kept.position, kept.url) == ("document", None, 5, "")
    assert named.url == "https://example.org/a"
    assert sources_of([end("not a list")]) == [] and sources_of([end([])]) == []


def pipeline_text(mode, events, stop=None, streaming=True):
    pipe = AnswerPipeline(EndpointSettings(citations=mode), stop=stop, streaming=streaming)
    parts = [p for e in events for p in pipe.feed(e)] + pipe.close()
    return "".join(p.text for p in parts if isinstance(p, Text)), parts


def test_markdown_sources_follow_text_held_back_by_the_think_splitter():
    # "<th" could open a <think> block, so it waits; the sources must come after it, not before.
    text, _ = pipeline_text(CitationMode.MARKDOWN, [{"event": "message", "answer": "less <th"}, end(RESOURCES)])
    assert text == "less <th\n\nSources:\n1. Handbook.pdf (HR)\n2. [Policy](<https://example.com/p>) (Web)"


def test_markdown_lists_a_document_once_and_keeps_titles_from_breaking_the_list():
    resources = [{"content": "a", "document_name": "Guide [v2]\nfinal", "dataset_name": "K"},
                 {"content": "b", "document_name": "Guide [v2]\nfinal", "dataset_name": "K"}]
    text, _ = pipeline_text(CitationMode.MARKDOWN, [end(resources)])
    assert text == "Sources:\n1. Guide (v2) final (K)"


def test_no_sources_after_a_stop_sequence_or_a_moderated_answer():
    stopped, _ = pipeline_text(CitationMode.MARKDOWN, [{"event": "message", "answer": "one END two"},
                                                      end(RESOURCES)], stop=["END"])
    assert stopped == "one "
    moderated, parts = pipeline_text(CitationMode.FIELDS, [{"event": "message", "answer": "bad"},
                                                          {"event": "message_replace", "answer": "[removed]"},
                                                          end(RESOURCES)])
    assert not any(isinstance(p, Sources) for p in parts)


def test_fields_mode_passes_sources_before_the_finish_and_off_drops_them():
    _, parts = pipeline_text(CitationMode.FIELDS, [{"event": "message", "answer": "x"}, end(RESOURCES)])
    assert isinstance(parts[-2], Sources) and parts[-1] == Finish("stop")
    _, parts = pipeline_text(CitationMode.OFF, [end(RESOURCES)])
    assert not any(isinstance(p, Sources) for p in parts)


def test_url_citations_name_each_page_once_over_the_whole_answer():
    page = Source(1, "Policy", "a", url="https://example.com/p")
    again = Source(2, "Policy", "b", url="https://example.com/p")
    [annotation] = url_annotations((page, again, Source(3, "Handbook", "c")), 12)
    assert annotation.url_citation.model_dump() == {"url": "https://example.com/p", "title": "Policy",
                                                    "start_index": 0, "end_index": 12}


def test_a_whole_chat_answer_without_sources_has_no_sources_key():
    builder = ChatResponseBuilder()
    builder.add(Text("hi"))
    assert "sources" not in builder.build("chatcmpl-1", 1, "m").to_dict()
    builder.add(Sources((Source(1, "Handbook", "c"),)))
    assert builder.build("chatcmpl-1", 1, "m").to_dict()["sources"][0]["document"] == ["c"]


def test_the_stream_counts_the_answer_it_cites():
    writer = ChatStreamWriter("chatcmpl-1", 1, "m", include_usage=False)
    writer.write(Text("héllo"))
    writer.write(Sources((Source(1, "Policy", "a", url="https://example.com/p"),)))
    finish = writer.write(Finish("stop")).decode()
    assert '"end_index":5' in finish.replace(" ", "")
