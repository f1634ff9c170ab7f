"""Knowledge-base sources (answer parts) as each API's wire format carries them."""

from __future__ import annotations

from openai_bridge.answer import Source
from openai_bridge.wire.chat import UrlCitation, UrlCitationAnnotation
from openai_bridge.wire.sources import SourceDocument, SourceMetadata, SourceOrigin


def source_documents(sources: tuple[Source, ...]) -> list[SourceDocument]:
    return [SourceDocument(
        source=SourceOrigin(name=s.title, url=s.url or None),
        document=[s.content],
        metadata=[SourceMetadata(source=s.url or s.title, name=s.title, collection=s.collection or None,
                                 document_id=s.document_id or None, score=s.score, position=s.position)])
        for s in sources]


def url_annotations(sources: tuple[Source, ...], answer_length: int) -> list[UrlCitationAnnotation]:
    """Chat Completions cites only web pages: the sources with a URL, each over the whole answer (Dify does not
    say which sentence drew on which passage)."""
    seen: set[str] = set()
    annotations = []
    for s in sources:
        if s.url and s.url not in seen:
            seen.add(s.url)
            annotations.append(UrlCitationAnnotation(url_citation=UrlCitation(
                url=s.url, title=s.title, start_index=0, end_index=answer_length)))
    return annotations
