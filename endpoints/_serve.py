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

from openai_bridge.dify.call import DifyCall
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.http.server import handle

_core_logger = logging.getLogger("openai_bridge")
if plugin_logger_handler not in _core_logger.handlers:
    _core_logger.addHandler(plugin_logger_handler)
    _core_logger.setLevel(logging.INFO)


class SessionDify:
    """The core's DifyPort over one SDK session (one endpoint request)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.endpoint_id = session.endpoint_id or ""
        self.accepts_query_files = False  # the plugin API has no `files` (dify-plugin-sdks #76)
        self.runs_text_generators = False  # Dify's plugin path fails on them with a 500 (dify-facts.md)
        self._absent: set[str] = set()  # storage keys this request found missing

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        # The chat wrapper serves every mode: Dify dispatches on the app's real mode, and workflow apps ignore
        # the query and conversation they do not use. The user is not sent: plugin calls all run as one.
        return self._session.app.chat.invoke(app_id=call.app_id, query=call.query, inputs=dict(call.inputs),
                                             response_mode="streaming", conversation_id=call.conversation_id or None)

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        # The daemon strips Dify's two `data` wrappers: this is the parameters object itself.
        return self._session.app.fetch_app(app_id)

    def upload_file(self, app_id: str, filename: str, content: bytes, mimetype: str, user: str) -> dict[str, str]:
        # The SDK's own to_app_parameter() had the wrong shape until dify-plugin-sdks #291: built here.
        uploaded = self._session.file.upload(filename, content, mimetype)
        return {"transfer_method": "tool_file", "tool_file_id": uploaded.id}

    def storage_get(self, key: str) -> bytes | None:
        try:
            value = self._session.storage.get(key)
        except Exception:
            # The daemon answers a missing key and a failing store with the same error: only then ask which it was,
            # so reading a key that exists (every warm conversation) costs one round trip.
            if self._session.storage.exist(key):
                raise
            self._absent.add(key)
            return None
        self._absent.discard(key)
        return value

    def storage_set(self, key: str, value: bytes) -> None:
        # Daemons before 0.5.7 add the full size of every write to the plugin's storage quota, also when it replaces
        # a value, so overwrites would fill the quota; deleting first keeps the count right on every daemon. A key
        # this request saw missing needs no delete.
        if key not in self._absent:
            try:
                self._session.storage.delete(key)
            except Exception:  # noqa: BLE001 - the set below reports a storage that really fails
                pass
        self._session.storage.set(key, value)
        self._absent.discard(key)


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
