"""What the core needs from the world, written down once: each adapter implements these ports.

The plugin implements them over the SDK session (endpoints/_serve.py); tests fake them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from openai_bridge.dify.call import DifyCall


class KeyValueStorage(Protocol):
    """Plugin storage, as conversation memory needs it."""

    def storage_get(self, key: str) -> bytes | None:
        """The value, None when the key is absent; raises when storage fails."""
        ...

    def storage_set(self, key: str, value: bytes) -> None: ...


class DifyPort(KeyValueStorage, Protocol):
    """Dify, as the core calls it: over the plugin SDK's session (endpoints/), or Dify's Service API (gateway/)."""

    endpoint_id: str  # what memory keys are prefixed with: storage may be shared by several endpoints
    # Whether a call can attach files to the query itself (`sys.files`): the Service API can, the plugin API cannot.
    accepts_query_files: bool
    # Whether text-generator (completion) apps run: the Service API has their route, the plugin API fails on them.
    runs_text_generators: bool

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        """Run the app in streaming mode and yield Dify's event dicts. A refusal raises, before the first event, an
        exception whose text holds `status code: N and respond with: <Dify's JSON error>` (the daemon's wording,
        which dify.failures classifies); closing the iterator stops reading (and, where the API can, the run)."""
        ...

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        """The app's parameters (`user_input_form`, `file_upload`, ...)."""
        ...

    def upload_file(self, app_id: str, filename: str, content: bytes, mimetype: str, user: str) -> dict[str, str]:
        """Store a file in Dify for the app `app_id` will run (and `user`, where the API has apps' own uploads and
        users); the reference a file mapping names it by:
        {"transfer_method": "tool_file", "tool_file_id": ...} or {"transfer_method": "local_file",
        "upload_file_id": ...}."""
        ...
