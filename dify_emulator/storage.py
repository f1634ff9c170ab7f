"""Plugin storage (`session.storage`), in memory, with the daemon's key rules and size limit.

One namespace per plugin, as in Dify: every endpoint of the plugin sees the same keys. It lives in the
emulator process, so it survives plugin restarts.
"""

import binascii
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from .errors import BackwardsError

MAX_KEY_LENGTH = 256


def check_key(key: Any) -> str:
    """The daemon's key rules. Stricter than some daemon versions (which clean the path first): a key
    that passes here passes in every version."""
    if not isinstance(key, str):
        raise BackwardsError("invalid key: a key must be a string")
    if ".." in key or "//" in key or "\\" in key:
        raise BackwardsError("invalid key: path traversal attempt detected")
    return key


class PluginStorage(MutableMapping[str, bytes]):
    """key -> bytes. As a mapping it is the test-side view; `handle` serves the plugin's requests."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        # Fault switch for tests: while set, every storage invocation fails.
        self.fail = False
        self._lock = threading.Lock()
        self._items: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> bytes:
        return self._items[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        with self._lock:
            self._items[key] = bytes(value)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def used(self) -> int:
        return sum(len(v) for v in self._items.values())

    def handle(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """One storage invocation; the reply chunks, worded like the daemon (`executeDifyInvocationStorageTask`)."""
        opt = request.get("opt")
        if opt == "get":
            return [{"data": self._get(request.get("key")).hex()}]
        if opt == "set":
            self._set(request.get("key"), request.get("value"))
            return [{"data": "ok"}]
        if opt == "del":
            return [{"data": "ok", "deleted_num": self._delete(request.get("key"))}]
        if opt == "exist":
            exists = self._exists(request.get("key"))
            return [{"data": exists, "exist_num": int(exists)}]
        raise BackwardsError(f"unmarshal backwards invoke request failed: unknown storage opt {opt!r}")

    def _key(self, key: Any, failure: str) -> str:
        """A valid key, or BackwardsError prefixed with the daemon's wording for this operation."""
        try:
            if self.fail:
                raise BackwardsError("emulated storage failure (fail_storage is set)")
            return check_key(key)
        except BackwardsError as e:
            raise BackwardsError(f"{failure}: {e.message}") from None

    def _get(self, key: Any) -> bytes:
        try:
            with self._lock:
                return self._items[self._key(key, "load data failed")]
        except (BackwardsError, KeyError):
            # The daemon words every load failure the same way.
            raise BackwardsError(
                "load data failed, please check if the key is correct or you have not set it"
            ) from None

    def _set(self, key: Any, value: Any) -> None:
        key = self._key(key, "save data failed")
        try:
            data = binascii.unhexlify(value or "")
        except (binascii.Error, TypeError) as e:
            raise BackwardsError(f"decode data failed: {e}") from None
        if len(key) > MAX_KEY_LENGTH:
            raise BackwardsError("save data failed: key length must be less than 256 characters")
        with self._lock:
            new_total = sum(len(v) for k, v in self._items.items() if k != key) + len(data)
            if new_total > self.max_size:
                raise BackwardsError("save data failed: allocated size is greater than max storage size")
            self._items[key] = data

    def _delete(self, key: Any) -> int:
        key = self._key(key, "delete data failed")
        with self._lock:
            return 1 if self._items.pop(key, None) is not None else 0

    def _exists(self, key: Any) -> bool:
        return self._key(key, "exist data failed") in self._items
