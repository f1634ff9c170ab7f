"""Knowledge-base citations (issue #12, 2): Dify's retriever resources reach each API in the fields clients read.

The app "retrieves" three passages: two from an uploaded handbook (no URL) and one from a crawled web page whose
document metadata holds its address. Dify sends them only with the app's Citations and Attributions feature on.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest

from .conftest import API_KEY, scenario

pytestmark = pytest.mark.both_adapters

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PAGE = "https://example.com/leave-policy"
KNOWLEDGE = [
    {"dataset_name": "HR", "document_name": "Handbook.pdf", "content": "Staff get 25 days of leave.", "score": 0.91},
    {"dataset_name": "Web", "document_name": "Leave policy", "content": "Leave is booked in the portal.",
     "doc_metadata": {"source_url": PAGE}, "score": 0.82},
    {"dataset_name": "HR", "document_name": "Handbook.pdf", "content": "Unused leave carries over.", "score": 0.5},
]
CITING = {"retriever_resource": {"enabled": True}}
ASK = [{"role": "user", "content": "how much leave?"}]


def knowledge_app(emu, mode: str = "chat", parameters: dict | None = None, **settings) -> None:
    base = scenario(mode=mode, parameters=CITING if parameters is None else parameters, **settings)
    base["app"]["knowledge"] = KNOWLEDGE
    emu.load_scenario(base)


def raw_stream(emu, path: str, body: dict) -> list[dict]:
    """The stream's data chunks as JSON, as a client that reads the bytes sees them."""
    with httpx.stream("POST", f"{emu.base_url}/v1/{path}", json={**body, "stream": True}, timeout=30,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        lines = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.parametrize("mode", ["chat", "advanced-chat"])
def test_whole_chat_answer_cites_the_page_and_lists_every_passage(emu, client, mode):
    knowledge_app(emu, mode)
    completion = client.chat.completions.create(model="dify-app", messages=ASK)
    message = completion.choices[0].message
    assert message.content == "how much leave?"
    [annotation] = message.annotations  # the SDK's own type: only a web page can be a url_citation
    assert annotation.type == "url_citation"
    assert (annotation.url_citation.url, annotation.url_citation.title) == (PAGE, "Leave policy")
    assert (annotation.url_citation.start_index, annotation.url_citation.end_index) == (0, len(message.content))
    sources = completion.model_extra["sources"]
    assert [s["document"] for s in sources] == [[k["content"]] for k in KNOWLEDGE]
    assert sources[0]["source"] == {"name": "Handbook.pdf", "url": None}
    assert sources[1]["source"] == {"name": "Leave policy", "url": PAGE}
    first = sources[0]["metadata"][0]
    assert (first["source"], first["name"], first["collection"], first["score"], first["position"]) == (
        "Handbook.pdf", "Handbook.pdf", "HR", 0.91, 1)
    assert sources[1]["metadata"][0]["source"] == PAGE  # Open WebUI links a source that is a URL


def test_streamed_chat_sends_open_webui_source_events_and_annotations_on_the_finish_chunk(emu):
    knowledge_app(emu)
    chunks = raw_stream(emu, "chat/completions", {"model": "dify-app", "messages": ASK})
    events = [c for c in chunks if "event" in c]
    assert [c["choices"] for c in events] == [[], [], []]  # other clients find nothing to show in them
    assert [e["event"]["type"] for e in events] == ["source"] * 3
    assert events[1]["event"]["data"] == {
        "source": {"name": "Leave policy", "url": PAGE}, "document": ["Leave is booked in the portal."],
        "metadata": [{"source": PAGE, "name": "Leave policy", "collection": "Web",
                      "document_id": events[1]["event"]["data"]["metadata"][0]["document_id"], "score": 0.82,
                      "position": 2}]}
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == "how much leave?"
    finish = chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["choices"][0]["delta"] == {"annotations": [{"type": "url_citation", "url_citation": {
        "url": PAGE, "title": "Leave policy", "start_index": 0, "end_index": len(content)}}]}
    assert finish["sources"] == [e["event"]["data"] for e in events]
    assert chunks.index(events[-1]) < chunks.index(finish)


def test_openai_sdk_langchain_and_litellm_stream_past_the_source_events(emu, client):
    import litellm
    from langchain_openai import ChatOpenAI

    knowledge_app(emu)
    streamed = client.chat.completions.create(model="dify-app", messages=ASK, stream=True,
                                              stream_options={"include_usage": True})
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "how much leave?"
    assert chunks[-1].usage.total_tokens > 0

    llm = ChatOpenAI(model="dify-app", base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    assert "".join(chunk.content for chunk in llm.stream("langchain leave")) == "langchain leave"
    assert llm.invoke("langchain whole").content == "langchain whole"

    pieces = litellm.completion(model="openai/dify-app", api_base=f"{emu.base_url}/v1", api_key=API_KEY,
                                messages=[{"role": "user", "content": "litellm leave"}], stream=True, num_retries=0)
    assert "".join(c.choices[0].delta.content or "" for c in pieces) == "litellm leave"


@pytest.mark.parametrize("stream", [False, True])
def test_responses_cite_the_handbook_by_document_and_the_page_by_url(emu, client, stream):
    knowledge_app(emu)
    if stream:
        events = list(client.responses.create(model="dify-app", input="how much leave?", stream=True))
        added = [e for e in events if e.type == "response.output_text.annotation.added"]
        assert [e.annotation_index for e in added] == [0, 1]
        response = events[-1].response
        assert [e.annotation.type for e in added] == ["file_citation", "url_citation"]
    else:
        response = client.responses.create(model="dify-app", input="how much leave?")
    text = response.output[-1].content[0]
    assert text.text == "how much leave?"
    handbook, page = text.annotations  # two passages of one document are one citation
    assert (handbook.type, handbook.filename, handbook.index) == ("file_citation", "Handbook.pdf", len(text.text))
    assert handbook.file_id  # Dify's document id
    assert (page.type, page.url, page.title, page.start_index, page.end_index) == (
        "url_citation", PAGE, "Leave policy", 0, len(text.text))
    assert [s["document"][0] for s in response.model_extra["sources"]] == [k["content"] for k in KNOWLEDGE]


@pytest.mark.parametrize("stream", [False, True])
def test_markdown_mode_lists_each_document_once_after_the_answer(emu, client, stream):
    knowledge_app(emu, citations="markdown")
    expected = ("how much leave?\n\nSources:\n1. Handbook.pdf (HR)\n"
                f"2. [Leave policy](<{PAGE}>) (Web)")
    if stream:
        chunks = raw_stream(emu, "chat/completions", {"model": "dify-app", "messages": ASK})
        assert not any("event" in c for c in chunks)
        assert chunks[-1]["choices"][0]["delta"] == {}
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == expected
    else:
        completion = client.chat.completions.create(model="dify-app", messages=ASK)
        assert completion.choices[0].message.content == expected
        assert completion.choices[0].message.annotations == []
        assert "sources" not in completion.model_extra
    response = client.responses.create(model="dify-app", input="how much leave?")
    assert response.output_text == expected


@pytest.mark.parametrize(("parameters", "citations"), [(CITING, "off"), ({}, "fields")],
                         ids=["setting-off", "app-feature-off"])
def test_no_sources_when_the_setting_or_the_app_feature_is_off(emu, client, parameters, citations):
    knowledge_app(emu, parameters=parameters, citations=citations)
    completion = client.chat.completions.create(model="dify-app", messages=ASK)
    assert completion.choices[0].message.content == "how much leave?"
    assert completion.choices[0].message.annotations == []
    assert "sources" not in completion.model_extra
    chunks = raw_stream(emu, "chat/completions", {"model": "dify-app", "messages": ASK})
    assert not any("event" in c for c in chunks)
    response = client.responses.create(model="dify-app", input="how much leave?")
    assert response.output[-1].content[0].annotations == []


def test_legacy_completions_carry_sources_on_a_whole_answer(emu, client):
    knowledge_app(emu)
    completion = client.completions.create(model="dify-app", prompt="how much leave?")
    assert completion.choices[0].text == "how much leave?"
    assert len(completion.model_extra["sources"]) == 3
    streamed = list(client.completions.create(model="dify-app", prompt="how much leave?", stream=True))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "how much leave?"
