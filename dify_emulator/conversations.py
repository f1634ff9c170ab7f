"""Conversations of chat-type apps, kept the way Dify keeps them.

Dify looks a conversation up by (id, app); an unknown UUID is a ConversationNotExistsError (a ValueError
without a message, so HTTP 400 with an empty message) and a string that is no UUID makes PostgreSQL fail
(HTTP 500). Inputs are not part of a conversation: Dify takes and validates them again on every turn (since
dify e61752bd3, recorded on 1.14.1 in d_inputs_changed_turn2). What a conversation keeps is its turns (the
memory later prompts are built from) and its conversation variables.
"""

import copy
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import INTERNAL_SERVER_ERROR, app_failure, invalid_param


@dataclass(frozen=True)
class ToolStep:
    """One tool call an agent made during a turn, as Dify stores it in the message's agent thoughts."""

    thought: str
    tool: str
    tool_input: Mapping[str, Any]
    result: str  # the tool's text output
    call_id: str  # Dify stores a call id of its own, not the model's


@dataclass(frozen=True)
class Turn:
    query: str
    answer: str  # the message's answer as Dify stores it (what was streamed, <think> and all)
    tool_steps: tuple[ToolStep, ...] = ()


@dataclass
class Conversation:
    id: str
    app_id: str
    variables: dict[str, Any]
    turns: list[Turn] = field(default_factory=list)
    owner: str = ""  # the end user's id; "" is the plugin path's one end user
    created_at: int = field(default_factory=lambda: int(time.time()))


def _as_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class ConversationStore(Mapping[str, dict[str, Any]]):
    """conversation id -> {"app_id", "queries", "variables"} (a snapshot); read-only as a Mapping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Conversation] = {}

    def __getitem__(self, conversation_id: str) -> dict[str, Any]:
        with self._lock:
            conversation = self._items[conversation_id]
            return {"app_id": conversation.app_id, "queries": [turn.query for turn in conversation.turns],
                    "variables": copy.deepcopy(conversation.variables)}

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def delete(self, conversation_id: str) -> bool:
        """Forget a conversation, as deleting it in Dify's logs does; False if there was none."""
        with self._lock:
            return self._items.pop(conversation_id, None) is not None

    def lookup(self, app_id: str, conversation_id: str | None) -> Conversation | None:
        """The existing conversation `conversation_id` of `app_id`; None when no id is given (a new one).

        Raises BackwardsError the way Dify fails for unknown or malformed ids.
        """
        if not conversation_id:
            return None
        normalized = _as_uuid(conversation_id)
        if normalized is None:
            raise app_failure(INTERNAL_SERVER_ERROR)
        with self._lock:
            conversation = self._items.get(normalized)
        if conversation is None or conversation.app_id != app_id:
            raise app_failure(invalid_param(""))
        return conversation

    def owned(self, app_id: str, conversation_id: str, owner: str) -> Conversation | None:
        """The conversation of `app_id` that `owner` started, as the Service API looks it up (by end user)."""
        with self._lock:
            conversation = self._items.get(conversation_id)
        if conversation is None or conversation.app_id != app_id or conversation.owner != owner:
            return None
        return conversation

    def of(self, app_id: str, owner: str) -> list[Conversation]:
        """The conversations `owner` has with `app_id`, newest first."""
        with self._lock:
            found = [c for c in self._items.values() if c.app_id == app_id and c.owner == owner]
        return found[::-1]

    def open(self, app_id: str, conversation_id: str | None, variables: Mapping[str, Any],
             owner: str = "") -> Conversation:
        """The conversation `conversation_id`, created (with these conversation variables) if it is not known.

        A new conversation gets a fresh id unless one is given: scripted events may name theirs.
        """
        with self._lock:
            existing = self._items.get(conversation_id) if conversation_id else None
            if existing is not None:
                return existing
            conversation = Conversation(conversation_id or str(uuid.uuid4()), app_id, copy.deepcopy(dict(variables)),
                                        owner=owner)
            self._items[conversation.id] = conversation
            return conversation

    def add_turn(self, conversation: Conversation, turn: Turn, variables: Mapping[str, Any]) -> None:
        """Record a finished turn and the conversation variables as the run left them."""
        with self._lock:
            conversation.turns.append(turn)
            conversation.variables = copy.deepcopy(dict(variables))

    def history(self, conversation: Conversation | None) -> list[Turn]:
        if conversation is None:
            return []
        with self._lock:
            return list(conversation.turns)
