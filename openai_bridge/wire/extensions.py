"""This plugin's extensions to the OpenAI wire format: the Dify conversation a request continues, and its header;
extension fields of response objects, which are there only when they have a value.

A client may name the conversation (`conversation_id` in the body, the `X-Dify-Conversation-Id` header), and every
response names it back. Both directions go through here, so only a well-formed id ever reaches a header.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from openai_bridge.errors import invalid_request

CONVERSATION_HEADER = "X-Dify-Conversation-Id"
# \Z, not $: "$" also matches before a trailing newline, and these ids end up in response headers.
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def validate_conversation_id(value: str, param: str) -> str:
    # Dify answers an unknown id with an empty 400 and a malformed one with a 500: check before calling.
    if not UUID_PATTERN.match(value.strip()):
        # The value is not repeated: a client's header may hold anything, a key pasted in the wrong place included.
        raise invalid_request(f"'{param}' must be a Dify conversation id (a UUID of 36 characters, as the "
                              f"X-Dify-Conversation-Id header of an earlier answer gives it); this one is not.", param,
                              "invalid_conversation_id")
    return value.strip().lower()


def conversation_header(conversation_id: str) -> dict[str, str]:
    # The id comes from Dify's events: only a well-formed one goes into a header (no CR/LF injection).
    if not conversation_id or not UUID_PATTERN.match(conversation_id):
        return {}
    return {CONVERSATION_HEADER: conversation_id}


class WithExtensions(BaseModel):
    """An OpenAI object that may carry extension fields (`EXTENSIONS`): one without a value is left out, so a
    strict client sees exactly OpenAI's shape."""

    EXTENSIONS: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_empty_extensions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.EXTENSIONS:
            if data.get(name, 0) is None:
                del data[name]
        return data
