"""Mapping OpenAI chat threads and Responses API chains to persistent Dify conversations, in plugin storage.

OpenAI clients resend the whole history every turn; Dify keeps the conversation itself. A thread is recognised by
a digest of the caller and its history (system messages excluded, since clients regenerate them freely), and the
digest of the history *after* each reply is stored so the next turn finds it.

Storage layout, per endpoint and app (keys prefixed with the endpoint id, as storage is shared by all endpoints,
and a digest of the app id, so pointing the endpoint at another app never sends it the old app's conversations):
- `<endpoint>/<app>/threads/<bucket>`: {history digest: [conversation id, last use]}. The bucket comes from the
  thread's first message, so every turn of a thread lives in one record: a turn costs one read before Dify is
  called and one update after it (a fresh read, then a write only if the record changed: see `_update`).
  Continuing a history consumes its entry (it is replaced by the history after the reply), which is how a
  regenerated answer (the same history sent again) is told from a real continuation.
- `<endpoint>/<app>/responses/<bucket>`: {response id: [{"c": conversation id, "p": previous response id,
  "t": the turn's text, capped}, last use]}: what `previous_response_id` continues, and the text to re-seed a chain
  with when Dify no longer knows its conversation.
Each record keeps at most PER_BUCKET entries (least recently used evicted), which bounds storage per app.

Storage may fail, be full or hold garbage: memory then degrades to stateless operation (a seeded new conversation,
which still carries the full history), with a log line, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from openai_bridge.dify.transcript import content_text
from openai_bridge.memory.bounded import BoundedStorage
from openai_bridge.ports import KeyValueStorage
from openai_bridge.wire.chat import ChatMessage

logger = logging.getLogger(__name__)

BUCKETS = 128
PER_BUCKET = 16  # -> at most 2,048 threads and 2,048 response ids per endpoint and app
MAX_TURN_CHARS = 2000  # of one response's turn text; a chain re-seeded from storage gets its recent turns
MAX_CHAIN_TURNS = 24
MAX_CHAIN_CHARS = 16000
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def _message_record(message: ChatMessage) -> bytes:
    text = content_text(message)
    if message.role == "assistant":
        text = _THINK_BLOCK.sub("", text)  # clients differ in whether they send reasoning back
    calls = [(c.function.name, c.function.arguments) for c in message.tool_calls or []]
    return json.dumps([message.role, text.strip(), calls, message.tool_call_id or ""], ensure_ascii=False).encode()


@dataclass(frozen=True)
class Thread:
    """A chat history as memory knows it: its digest, and the record every turn of its thread shares."""

    bucket: int
    digest: str


def thread_of(owner: str, messages: list[ChatMessage]) -> Thread | None:
    """The history's memory identity; None for a history with nothing to continue (no message but system ones)."""
    digest = hashlib.sha256(owner.encode())
    root: bytes | None = None
    for message in messages:
        if message.role in {"system", "developer"}:
            continue
        record = _message_record(message)
        root = root if root is not None else record
        digest.update(record)
        digest.update(b"\x1e")
    if root is None:
        return None
    return Thread(_bucket(owner.encode() + b"\x1e" + root), digest.hexdigest())


def _bucket(value: bytes) -> int:
    return int(hashlib.sha256(value).hexdigest()[:8], 16) % BUCKETS


@dataclass(frozen=True)
class ResponseRecord:
    conversation_id: str  # "" once Dify refused it: the chain continues in a re-seeded conversation
    previous_response_id: str = ""
    turn: str = ""


class Lookup(Enum):
    MISSING = "missing"  # storage answered: there is no such entry
    UNAVAILABLE = "unavailable"  # storage failed: nothing can be known


# Plugin storage has no compare-and-set: two requests updating one record at once would each write back the record
# they read, and the later write would drop the other's entry; and an overwrite is a delete then a set (see
# endpoints/_serve.py), so a read between the two found nothing. Under load, threads lost their conversation. Within
# the plugin process, reads and updates of a record are serialized; separate plugin processes can still race.
_RECORD_LOCKS = [threading.Lock() for _ in range(512)]


def _lock_of(storage_key: str) -> threading.Lock:
    return _RECORD_LOCKS[hash(storage_key) % len(_RECORD_LOCKS)]


class _Unavailable(Exception):
    pass


class ConversationMemory:
    def __init__(self, storage: KeyValueStorage, endpoint_id: str, app_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._storage = BoundedStorage(storage)  # a daemon that stopped answering must not hold the request
        app = hashlib.sha256(app_id.encode()).hexdigest()[:16]  # app ids are not all safe in a storage key
        self._prefix = f"{endpoint_id or 'default'}/{app}"
        self._clock = clock

    # ------------------------------------------------------------------ threads

    def find(self, thread: Thread) -> str | None:
        """The Dify conversation this exact history continues, or None (new, edited or regenerated thread)."""
        entry = self._entry("threads", thread.bucket, thread.digest)
        return entry if isinstance(entry, str) and entry else None

    def advance(self, before: Thread | None, after: Thread, conversation_id: str) -> None:
        """The history `after` continues `conversation_id`; `before` (the history it continued) is consumed."""
        if before is not None and before.bucket != after.bucket:
            self._update("threads", before.bucket, lambda record: record.pop(before.digest, None) is not None)

        def change(record: dict[str, Any]) -> bool:
            if before is not None:
                record.pop(before.digest, None)
            record[after.digest] = [conversation_id, int(self._clock())]
            return True

        self._update("threads", after.bucket, change)

    # ------------------------------------------------------------------ Responses API chains

    def find_response(self, response_id: str) -> ResponseRecord | Lookup:
        try:
            entry = self._entry("responses", _bucket(response_id.encode()), response_id, strict=True)
        except _Unavailable:
            return Lookup.UNAVAILABLE
        record = _response_record(entry)
        return record if record is not None else Lookup.MISSING

    def remember_response(self, response_id: str, record: ResponseRecord) -> None:
        turn = record.turn if len(record.turn) <= MAX_TURN_CHARS else "…" + record.turn[-MAX_TURN_CHARS:]
        value = {"c": record.conversation_id, "p": record.previous_response_id, "t": turn}

        def change(entries: dict[str, Any]) -> bool:
            entries[response_id] = [value, int(self._clock())]
            return True

        self._update("responses", _bucket(response_id.encode()), change)

    def chain_history(self, record: ResponseRecord) -> list[str]:
        """The turns of the chain that ends with `record`, oldest first, as far back as storage still holds."""
        turns, seen, chars = [record.turn], set(), len(record.turn)
        previous = record.previous_response_id
        while previous and previous not in seen and len(turns) < MAX_CHAIN_TURNS and chars < MAX_CHAIN_CHARS:
            seen.add(previous)
            found = self.find_response(previous)
            if not isinstance(found, ResponseRecord):
                break
            turns.append(found.turn)
            chars += len(found.turn)
            previous = found.previous_response_id
        return [turn for turn in reversed(turns) if turn]

    def forget_response_conversation(self, response_id: str) -> None:
        """Dify no longer knows this response's conversation: later continuations re-seed without asking it."""

        def change(entries: dict[str, Any]) -> bool:
            record = _response_record(entries[response_id][0]) if response_id in entries else None
            if record is None or not record.conversation_id:
                return False
            entries[response_id] = [{"c": "", "p": record.previous_response_id, "t": record.turn},
                                    int(self._clock())]
            return True

        self._update("responses", _bucket(response_id.encode()), change)

    # ------------------------------------------------------------------ records

    def _key(self, kind: str, bucket: int) -> str:
        return f"{self._prefix}/{kind}/{bucket}"

    def _entry(self, kind: str, bucket: int, key: str, strict: bool = False) -> Any:
        storage_key = self._key(kind, bucket)
        with _lock_of(storage_key):
            record = self._load(storage_key, strict)
        entry = record.get(key)
        return entry[0] if isinstance(entry, list) and entry else None

    def _load(self, storage_key: str, strict: bool = False) -> dict[str, Any]:
        try:
            raw = self._storage.storage_get(storage_key)
        except Exception as exc:  # noqa: BLE001 - unavailable storage degrades memory, it never fails a request
            logger.warning("conversation memory: storage read failed (%s); continuing without memory", exc)
            if strict:
                raise _Unavailable from exc
            return {}
        return _parse(storage_key, raw)

    def _update(self, kind: str, bucket: int, change: Callable[[dict[str, Any]], bool]) -> None:
        """Read-modify-write of one record under its lock; nothing is written when the record stays the same.

        The record is read again here, after Dify answered, although the request may have read it before calling
        Dify: the call can last minutes, and meanwhile other requests (in this process or in another copy of the
        plugin, which Dify may run side by side) update the same record for their own threads. Writing back the
        copy read before the call would drop their entries; the fresh read narrows that window to this one
        read-modify-write. A write is then a delete and a set (see endpoints/_serve.py)."""
        storage_key = self._key(kind, bucket)
        with _lock_of(storage_key):
            try:
                raw = self._storage.storage_get(storage_key)
            except Exception as exc:  # noqa: BLE001
                # Writing over a record that could not be read would drop every other thread in it.
                logger.warning("conversation memory: storage read failed (%s); this turn is not remembered", exc)
                return
            record = _parse(storage_key, raw)
            if not change(record):
                return
            if len(record) > PER_BUCKET:
                for stale in sorted(record, key=lambda k: record[k][1])[: len(record) - PER_BUCKET]:
                    del record[stale]
            value = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
            if value == raw:
                return  # e.g. the same entry written again within its second: two storage round trips saved
            try:
                self._storage.storage_set(storage_key, value)
            except Exception as exc:  # noqa: BLE001 - a full or failing storage only costs continuity
                logger.warning("conversation memory: storage write failed (%s); this thread will be re-seeded", exc)


def _parse(storage_key: str, raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("conversation memory: record %s is corrupted; starting it afresh", storage_key)
        return {}
    # Entries of another shape (a hand-edited or corrupted record) are dropped, never trusted.
    return {k: v for k, v in data.items()
            if isinstance(v, list) and len(v) == 2 and isinstance(v[1], int) and not isinstance(v[1], bool)}


def _response_record(value: Any) -> ResponseRecord | None:
    if isinstance(value, str) and value:  # written by plugin versions before chains kept their text
        return ResponseRecord(value)
    if isinstance(value, dict) and isinstance(value.get("c"), str):
        previous, turn = value.get("p"), value.get("t")
        return ResponseRecord(value["c"], previous if isinstance(previous, str) else "",
                              turn if isinstance(turn, str) else "")
    return None
