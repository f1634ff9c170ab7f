"""Conversations of chat-type apps, kept the way Dify keeps them.

Dify looks a conversation up by (id, app); an unknown UUID is a ConversationNotExistsError (a ValueError
without a message, so HTTP 400 with an empty message) and a string that is no UUID makes PostgreSQL fail
(HTTP 500). Inputs are not part of a conversation: Dify takes and validates them again on every turn (since
dify e61752bd3, recorded on 1.14.1 in d_inputs_changed_turn2).
"""

import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import INTERNAL_SERVER_ERROR, app_failure, invalid_param


def _as_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class ConversationStore(Mapping[str, dict[str, Any]]):
    """conversation id -> {"app_id", "queries"}; read-only as a Mapping, plus clear()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}

    def __getitem__(self, conversation_id: str) -> dict[str, Any]:
        return self._items[conversation_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def lookup(self, app_id: str, conversation_id: str | None) -> tuple[str | None, dict[str, Any] | None]:
        """(normalized id, conversation) of an existing conversation, (None, None) for a new one.

        Raises BackwardsError the way Dify fails for unknown or malformed ids.
        """
        if not conversation_id:
            return None, None
        normalized = _as_uuid(conversation_id)
        if normalized is None:
            raise app_failure(INTERNAL_SERVER_ERROR)
        with self._lock:
            conversation = self._items.get(normalized)
        if conversation is None or conversation["app_id"] != app_id:
            raise app_failure(invalid_param(""))
        return normalized, conversation

    def add_turn(self, app_id: str, conversation_id: str | None, query: str) -> str:
        """Record a turn; creates the conversation when it is new. Returns its id."""
        with self._lock:
            if conversation_id is None or conversation_id not in self._items:
                conversation_id = conversation_id or str(uuid.uuid4())
                self._items[conversation_id] = {"app_id": app_id, "queries": []}
            self._items[conversation_id]["queries"].append(query)
        return conversation_id
