"""The thin adapter between the Dify plugin SDK and the `openai_bridge` core.

Endpoint modules hand their werkzeug request here; this module turns it into the core's IncomingRequest, gives the
core a DifyPort backed by the SDK session, and turns the core's HttpResponse back into a werkzeug Response (a
generator body, which the SDK streams chunk by chunk). It must not define or import an Endpoint subclass: the SDK
allows exactly one per endpoint module, imported ones included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from dify_plugin.config.logger_format import plugin_logger_handler
from dify_plugin.core.runtime import Session
from werkzeug import Request, Response

from openai_bridge.app import handle
from openai_bridge.http import IncomingRequest

_core_logger = logging.getLogger("openai_bridge")
if plugin_logger_handler not in _core_logger.handlers:
    _core_logger.addHandler(plugin_logger_handler)
    _core_logger.setLevel(logging.INFO)


class SessionDify:
    """The core's DifyPort over one SDK session (one endpoint request)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.endpoint_id = session.endpoint_id or ""

    def invoke_app(self, app_id: str, query: str, inputs: Mapping[str, Any],
                   conversation_id: str | None) -> Iterator[dict[str, Any]]:
        # The chat wrapper serves every mode: Dify dispatches on the app's real mode, and workflow apps ignore
        # the query and conversation they do not use.
        return self._session.app.chat.invoke(app_id=app_id, query=query, inputs=dict(inputs),
                                             response_mode="streaming", conversation_id=conversation_id or None)

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        return self._session.app.fetch_app(app_id)

    def upload_file(self, filename: str, content: bytes, mimetype: str) -> str:
        return self._session.file.upload(filename, content, mimetype).id

    def storage_get(self, key: str) -> bytes | None:
        # The SDK raises a plain Exception for a missing key, like for any other failure: both mean "no value".
        if not self._session.storage.exist(key):
            return None
        return self._session.storage.get(key)

    def storage_set(self, key: str, value: bytes) -> None:
        # A daemon build was seen whose storage keeps the first value of an existing key and drops later ones;
        # deleting first makes an overwrite real on every daemon (deleting a missing key may raise: harmless).
        try:
            self._session.storage.delete(key)
        except Exception:  # noqa: BLE001
            pass
        self._session.storage.set(key, value)


def serve(session: Session, request: Request, settings: Mapping[str, Any]) -> Response:
    incoming = IncomingRequest(
        method=request.method,
        path=request.path,
        headers=request.headers,
        body=request.get_data(cache=False),
        declared_length=request.content_length,
    )
    response = handle(incoming, settings, SessionDify(session))
    return Response(response.body, status=response.status, headers=response.headers, direct_passthrough=True)
