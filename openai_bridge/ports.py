"""What the core needs from the world, written down once: each adapter implements these ports.

The plugin implements them over the SDK session (endpoints/_serve.py); tests fake them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol


class KeyValueStorage(Protocol):
    """Plugin storage, as conversation memory needs it."""

    def storage_get(self, key: str) -> bytes | None:
        """The value, None when the key is absent; raises when storage fails."""
        ...

    def storage_set(self, key: str, value: bytes) -> None: ...


class DifyPort(KeyValueStorage, Protocol):
    endpoint_id: str

    def invoke_app(self, app_id: str, query: str, inputs: Mapping[str, Any],
                   conversation_id: str | None) -> Iterator[dict[str, Any]]:
        """Run the app in streaming mode; raises (before the first event) when Dify refuses."""
        ...

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        """The app's parameters (`user_input_form`, `file_upload`, ...)."""
        ...

    def upload_file(self, filename: str, content: bytes, mimetype: str) -> str:
        """Store a file in Dify as a tool file; returns its id."""
        ...
