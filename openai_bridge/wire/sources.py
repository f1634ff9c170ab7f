"""The `sources` extension: the knowledge-base passages an answer drew on, in the shape Open WebUI renders.

OpenAI's own citation fields (`annotations`) can only name a URL (Chat Completions) or a file id (Responses), so
the passages themselves travel here: as `sources` on a whole answer, and in a stream as one chunk per passage with
an `event` of type "source", which Open WebUI hands to its citation panel and other clients skip (the chunk has no
choices). One source is one passage: `document` holds its text, `metadata` where it came from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class SourceOrigin(BaseModel):
    name: str  # the document's name
    url: str | None = None


class SourceMetadata(BaseModel):
    # Open WebUI groups passages by `source` and links it when it is a URL, so it is the URL when there is one.
    source: str
    name: str
    collection: str | None = None  # the Dify knowledge base
    document_id: str | None = None  # Dify's id of the document in that knowledge base
    score: float | None = None
    position: int


class SourceDocument(BaseModel):
    source: SourceOrigin
    document: list[str]
    metadata: list[SourceMetadata]


class SourceEventBody(BaseModel):
    type: Literal["source"] = "source"
    data: SourceDocument
