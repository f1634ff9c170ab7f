"""The HTTP side: `/v1/...` to the ServiceApi, `/files/<id>/file-preview` to the uploads, one thread per connection.

Streams go out chunk by chunk as they are produced (chunked transfer encoding); a client that goes away ends the
stream (the run itself was computed already, as Dify's runs on without its client).
"""

import logging
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..http_front import LoopbackHTTPServer
from .errors import NOT_FOUND_URL, ServiceError
from .files import PREVIEW_PREFIX, PREVIEW_SUFFIX
from .routes import Request, Response, ServiceApi, error_response
from .streams import StreamBroken

logger = logging.getLogger("dify_emulator")

API_PREFIX = "/v1"
MAX_BODY_BYTES = 100 * 1024 * 1024


class ServiceApiServer(LoopbackHTTPServer):
    def __init__(self, host: str, port: int, api: ServiceApi) -> None:
        self.api = api
        super().__init__((host, port), ServiceApiHandler)


class ServiceApiHandler(BaseHTTPRequestHandler):
    server: ServiceApiServer
    protocol_version = "HTTP/1.1"
    # Dify's API server (gunicorn with gevent) sets TCP_NODELAY too: without it, Nagle's algorithm and the client's
    # delayed ACKs hold a stream's small frames back by up to 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("service api %s", format % args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES)) if length > 0 else b""
        if url.path.startswith(PREVIEW_PREFIX) and url.path.endswith(PREVIEW_SUFFIX) and self.command == "GET":
            self._send(self._preview(url.path[len(PREVIEW_PREFIX):-len(PREVIEW_SUFFIX)]))
            return
        if url.path != API_PREFIX and not url.path.startswith(API_PREFIX + "/"):
            self._send(error_response(ServiceError(404, "not_found", NOT_FOUND_URL)))
            return
        request = Request(self.command, url.path[len(API_PREFIX):], dict(parse_qsl(url.query)),
                          {name.lower(): value for name, value in self.headers.items()}, body)
        self._send(self.server.api.handle(request))

    def _preview(self, file_id: str) -> Response:
        file = self.server.api.uploads.get(file_id)
        if file is None:
            return error_response(ServiceError(404, "not_found", "File not found"))
        return Response(200, file["content"], file["mimetype"])

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if isinstance(response.body, bytes):
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        chunks = response.body
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except StreamBroken:
            self.close_connection = True  # no closing chunk: the client sees a broken response
        except (ConnectionError, OSError):
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
