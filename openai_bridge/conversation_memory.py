"""Mapping OpenAI chat threads to persistent Dify conversations, kept in plugin storage.

OpenAI clients resend the whole history every turn; Dify keeps the conversation itself. A thread is recognised by
a digest of the caller and its history (system messages excluded, since clients regenerate them freely), and the
digest of the history *after* each reply is stored so the next turn finds it.

Storage layout, per endpoint (keys prefixed with the endpoint id; storage is shared by all endpoints):
- `<endpoint>/threads/<bucket>`: {thread digest: [conversation id, last use]}
- `<endpoint>/heads/<bucket>`:   {conversation id: [digest of the history it has reached, last use]}
- `<endpoint>/responses/<bucket>`: {Responses API response id: [its conversation id, last use]}, which is what
  `previous_response_id` continues
Records are bucketed so one turn costs a few small reads and writes, and each bucket keeps at most PER_BUCKET
entries (least recently used evicted), which bounds storage per endpoint. The head record is what tells a
regenerated answer (same history, but the conversation already moved on) from a real continuation.

Storage may fail or be full: memory then degrades to stateless operation (a seeded new conversation, which still
carries the full history), with a log line, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable

from .protocol import ChatMessage
from .transcript import content_text
from .upstream import BoundedStorage, KeyValueStorage

logger = logging.getLogger(__name__)

BUCKETS = 128
PER_BUCKET = 16  # -> at most 2,048 threads and 2,048 heads per endpoint, about 0.6 MB of storage
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def history_digest(caller: str, messages: list[ChatMessage]) -> str:
    digest = hashlib.sha256(caller.encode())
    for message in messages:
        if message.role in {"system", "developer"}:
            continue
        text = content_text(message)
        if message.role == "assistant":
            text = _THINK_BLOCK.sub("", text)  # clients differ in whether they send reasoning back
        calls = [(c.function.name, c.function.arguments) for c in message.tool_calls or []]
        digest.update(json.dumps([message.role, text.strip(), calls, message.tool_call_id or ""],
                                 ensure_ascii=False).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def _bucket(value: str) -> int:
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % BUCKETS


# Plugin storage has no compare-and-set: two requests updating one bucket at once would each write back the record
# they read, and the later write would drop the other's entry; and an overwrite is a delete then a set (see
# endpoints/_serve.py), so a read between the two found nothing. Under load, threads lost their conversation. Within
# the plugin process, reads and updates of a bucket are serialized; separate plugin processes can still race.
_BUCKET_LOCKS = [threading.Lock() for _ in range(512)]


def _lock_of(storage_key: str) -> threading.Lock:
    return _BUCKET_LOCKS[hash(storage_key) % len(_BUCKET_LOCKS)]


class ConversationMemory:
    def __init__(self, storage: KeyValueStorage, endpoint_id: str, clock: Callable[[], float] = time.time) -> None:
        self._storage = BoundedStorage(storage)  # a daemon that stopped answering must not hold the request
        self._prefix = endpoint_id or "default"
        self._clock = clock

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}/{kind}/{_bucket(key)}"

    def _read(self, kind: str, key: str) -> dict[str, list]:
        with _lock_of(self._key(kind, key)):
            return self._load(kind, key)

    def _load(self, kind: str, key: str) -> dict[str, list]:
        try:
            raw = self._storage.storage_get(self._key(kind, key))
        except Exception as exc:  # noqa: BLE001 - unavailable storage degrades memory, it never fails a request
            logger.warning("conversation memory: storage read failed (%s); continuing without memory", exc)
            return {}
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, kind: str, key: str, value: str) -> None:
        storage_key = self._key(kind, key)
        with _lock_of(storage_key):
            record = self._load(kind, key)
            record[key] = [value, int(self._clock())]
            if len(record) > PER_BUCKET:
                for stale in sorted(record, key=lambda k: record[k][1])[: len(record) - PER_BUCKET]:
                    del record[stale]
            try:
                self._storage.storage_set(storage_key, json.dumps(record, separators=(",", ":")).encode())
            except Exception as exc:  # noqa: BLE001 - a full or failing storage only costs continuity
                logger.warning("conversation memory: storage write failed (%s); this thread will be re-seeded", exc)

    def find(self, thread_digest: str) -> str | None:
        """The Dify conversation this exact history continues, or None (new, edited or regenerated thread)."""
        entry = self._read("threads", thread_digest).get(thread_digest)
        if not entry or not isinstance(entry[0], str):
            return None
        conversation_id = entry[0]
        head = self._read("heads", conversation_id).get(conversation_id)
        if not head or head[0] != thread_digest:
            # The conversation has moved past this history (a regenerated or edited turn): continuing it
            # would let the app see answers the client has discarded.
            return None
        return conversation_id

    def remember(self, thread_digest: str, conversation_id: str) -> None:
        self._save("threads", thread_digest, conversation_id)
        self._save("heads", conversation_id, thread_digest)

    def find_response(self, response_id: str) -> str | None:
        """The Dify conversation a Responses API response belongs to, or None when unknown or evicted."""
        entry = self._read("responses", response_id).get(response_id)
        return entry[0] if entry and isinstance(entry[0], str) else None

    def remember_response(self, response_id: str, conversation_id: str) -> None:
        self._save("responses", response_id, conversation_id)
