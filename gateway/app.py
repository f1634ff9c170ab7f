"""The gateway's WSGI app: a request becomes the core's IncomingRequest, the core's HttpResponse goes out as it is
made (a streamed body chunk by chunk, never buffered)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, cast

from werkzeug import Request, Response

from gateway.config import GatewayConfig
from gateway.dify_api import ServiceApiDify
from gateway.storage import open_storage
from openai_bridge.http.auth import presented_key
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.ports import KeyValueStorage

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# Dify's plugin daemon reads at most this much of a body; the gateway answers the same requests the same way.
MAX_BODY_BYTES = 10 * 1024 * 1024


class GatewayApp:
    def __init__(self, config: GatewayConfig, storage: KeyValueStorage | None = None,
                 dify: ServiceApiDify | None = None) -> None:
        self.config = config
        self.dify = dify or ServiceApiDify(config, storage or open_storage(config))

    def api_key_for(self, request: IncomingRequest) -> str:
        """The client key the request presented, when it is one of the gateway's; else one it is not, which the
        core then refuses with the plugin's own 401."""
        given = presented_key(request).encode()
        matches = [key for key in self.config.client_keys if hmac.compare_digest(given, key.encode())]
        return matches[0] if matches else self.config.client_keys[0]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        headers = cast(Mapping[str, str], request.headers)  # werkzeug's Headers: case-insensitive lookups
        # The method as the client wrote it: werkzeug's request.method upper-cases it, but methods are case-sensitive
        # (RFC 9110), and "get" is no GET to the core's router, as it is none behind the plugin.
        incoming = IncomingRequest(method=environ["REQUEST_METHOD"], path=request.path, headers=headers,
                                   body=request.stream.read(MAX_BODY_BYTES), declared_length=request.content_length)
        answer = handle(incoming, self.config.settings(self.api_key_for(incoming)), self.dify)
        response = Response(answer.body, status=answer.status, headers=answer.headers, direct_passthrough=True)
        return response(environ, start_response)
