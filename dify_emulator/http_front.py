"""The HTTP side of the daemon: `/e/<hook_id>/<path>` to the plugin, plus the file URLs the emulator signs.

One thread per connection (ThreadingHTTPServer); a request waits on its own session channel, so slow streams
never hold up others. The response is relayed chunk by chunk as the plugin produces it; status and headers
go out with the first body chunk, as in the daemon.

A client that goes away is noticed as Go's HTTP server notices it (a failed write, or the connection reaching EOF
while the request waits for the plugin), and the backend is told (`abandon_session`), as the daemon's request
context is cancelled.
"""

import email.utils
import json
import logging
import re
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .errors import daemon_error_body, plugin_error_text
from .plugin_process import PluginExited
from .raw_request import MAX_BODY_BYTES, build_raw_request, canonical_header
from .sessions import Channel
from .uploads import PREVIEW_PATH, UPLOAD_PATH, UploadStore

logger = logging.getLogger("dify_emulator")

ENDPOINT_PATH = re.compile(r"^/e/(?P<hook>[^/?#]+)(?P<rest>.*)$", re.DOTALL)
# Our own framing replaces these (and the plugin cannot keep a connection alive for us).
HOP_BY_HOP = frozenset({"Connection", "Keep-Alive", "Transfer-Encoding", "Te", "Trailer", "Upgrade"})
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
DRAIN_CHUNK = 64 * 1024
# How often a request waiting for the plugin checks that its client is still connected.
CLIENT_CHECK_INTERVAL = 0.1


class Backend(Protocol):
    """What the HTTP front needs from the emulator."""

    hook_id: str
    max_execution_timeout: float
    upload_store: UploadStore

    def open_endpoint_session(self, raw_request: bytes) -> Channel: ...

    def close_session(self, channel: Channel) -> None: ...

    def abandon_session(self, channel: Channel) -> None:
        """The client went away before the response ended."""
        ...


class ClientGone(Exception):
    """The HTTP client closed the connection: stop writing to it."""


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A thread per connection, for the emulator's HTTP fronts (the daemon's and the Service API's)."""

    daemon_threads = True
    # The default backlog (5) drops connections when a hundred clients connect at once.
    request_queue_size = 1024

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client resetting an idle keep-alive connection is not an emulator failure: no traceback for it.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s reset its connection", client_address)
            return
        super().handle_error(request, client_address)


class FrontServer(LoopbackHTTPServer):
    def __init__(self, host: str, port: int, backend: Backend) -> None:
        self.backend = backend
        super().__init__((host, port), FrontHandler)


class ResponseStream:
    """Writes one response: chunked when the plugin gives no Content-Length (HTTP/1.1), else as is."""

    def __init__(self, handler: "FrontHandler", status: int, headers: dict[str, str]) -> None:
        self._handler = handler
        length = headers.get("Content-Length", "")
        # Bytes still allowed by the plugin's Content-Length (None: no length, the framing is ours).
        self._remaining = int(length) if length.isdigit() else None
        if handler.command == "HEAD" or status in (204, 304) or status < 200:
            self._mode = "none"
        elif self._remaining is not None:
            self._mode = "length"
        elif handler.request_version == "HTTP/1.1":
            self._mode = "chunked"
            headers["Transfer-Encoding"] = "chunked"
        else:
            self._mode = "close"
            headers["Connection"] = "close"
            handler.close_connection = True
        handler.start_response(status, headers)

    def write(self, data: bytes) -> None:
        if self._mode == "length" and self._remaining is not None:
            data = data[: self._remaining]
            self._remaining -= len(data)
        if self._mode == "none" or not data:
            return
        self._handler.write_raw(b"%x\r\n%b\r\n" % (len(data), data) if self._mode == "chunked" else data)

    def finish(self) -> None:
        if self._mode == "chunked":
            self._handler.write_raw(b"0\r\n\r\n")
        elif self._mode == "length" and self._remaining:
            # The plugin promised more than it sent: the connection cannot be reused.
            self._handler.close_connection = True

    def abort(self) -> None:
        """End without the closing chunk, so that the client sees a broken response."""
        self._handler.close_connection = True


class FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Go sets TCP_NODELAY on every connection: without it, Nagle's algorithm and the client's delayed ACKs hold
    # small chunks back by up to 40 ms on a keep-alive connection.
    disable_nagle_algorithm = True
    server: FrontServer

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET

    def do_PATCH(self) -> None:
        # The daemon registers no PATCH route under /e/.
        self._handle(allowed=False)

    def _handle(self, allowed: bool = True) -> None:
        started = time.monotonic()
        self.status: int | None = None
        self.bytes_out = 0
        try:
            self._route(allowed, started)
        except ClientGone:
            self.close_connection = True
            logger.info("%s %s: client went away", self.command, self.path)
        finally:
            elapsed = (time.monotonic() - started) * 1000
            logger.info("%s %s -> %s (%d bytes, %.0f ms)", self.command, self.path, self.status, self.bytes_out,
                        elapsed)

    def _route(self, allowed: bool, started: float) -> None:
        backend = self.server.backend
        path = self.path.partition("?")[0]
        if self.command == "POST" and path.startswith(UPLOAD_PATH):
            body = self._read_body(MAX_UPLOAD_BYTES)
            content_type = self.headers.get("Content-Type", "")
            status, payload = backend.upload_store.receive(path[len(UPLOAD_PATH):], content_type, body)
            self.send_json(status, payload)
            return
        if self.command in ("GET", "HEAD") and path.startswith(PREVIEW_PATH):
            self._send_preview(path[len(PREVIEW_PATH):])
            return
        match = ENDPOINT_PATH.match(self.path)
        if not match or match["hook"] != backend.hook_id:
            self.send_plain(404, "404 page not found")
        elif not allowed:
            self.send_plain(405, "405 method not allowed")
        else:
            self._proxy(match["rest"] if match["rest"].startswith("/") else "/" + match["rest"], started)

    def _proxy(self, target: str, started: float) -> None:
        backend = self.server.backend
        body = self._read_body(MAX_BODY_BYTES)
        host, port = self.server.server_address[:2]
        raw = build_raw_request(self.command, target, self.headers.items(), body, backend.hook_id, f"{host}:{port}")
        try:
            channel = backend.open_endpoint_session(raw)
        except PluginExited as e:
            logger.warning("cannot reach the plugin: %s", e)
            self.send_json(502, daemon_error_body(str(e)))
            return
        try:
            self._relay(channel, started + backend.max_execution_timeout)
        except ClientGone:
            backend.abandon_session(channel)
            raise
        finally:
            backend.close_session(channel)

    def _client_closed(self) -> bool:
        """Whether the client's connection reached EOF (or broke): what makes Go cancel a request's context."""
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False  # nothing to read: still connected
        except (OSError, ValueError):
            return True

    def _relay(self, channel: Channel, deadline: float) -> None:
        status, headers = 200, {}
        stream: ResponseStream | None = None
        next_check = time.monotonic() + CLIENT_CHECK_INTERVAL
        while True:
            now = time.monotonic()
            if now >= next_check:
                if self._client_closed():
                    raise ClientGone()
                next_check = now + CLIENT_CHECK_INTERVAL
            message = channel.get(min(deadline, next_check) - now)
            if message is None and time.monotonic() < deadline:
                continue
            if message is None:
                timeout_body = daemon_error_body("killed by timeout")
                if stream is None:
                    self.send_json(500, timeout_body)
                else:
                    stream.write(json.dumps(timeout_body).encode())
                    stream.finish()
                return
            kind, data = message
            if kind == "stream":
                chunk = self._parse_chunk(data, headers)
                if isinstance(data, dict) and isinstance(data.get("status"), int):
                    status = data["status"]
                if chunk is not None:
                    stream = stream or ResponseStream(self, status, headers)
                    stream.write(chunk)
            elif kind == "end":
                stream = stream or ResponseStream(self, status, headers)
                stream.finish()
                return
            elif kind == "error":
                logger.warning("plugin session error: %s", data)
                if stream is None:
                    self.send_json(500, daemon_error_body(plugin_error_text(data)))
                else:
                    stream.finish()
                return
            else:  # died
                logger.warning("%s %s: %s", self.command, self.path, data)
                if stream is None:
                    self.send_json(502, daemon_error_body(str(data)))
                else:
                    stream.abort()
                return

    @staticmethod
    def _parse_chunk(data: Any, headers: dict[str, str]) -> bytes | None:
        """Collect headers (first value wins, like the daemon) and return the body chunk, if any."""
        if not isinstance(data, dict):
            logger.warning("plugin sent a malformed stream message: %.200r", data)
            return None
        for name, value in (data.get("headers") or {}).items():
            key = canonical_header(str(name))
            if key not in HOP_BY_HOP:
                headers.setdefault(key, str(value))
        result = data.get("result")
        if result is None:
            return None
        try:
            return bytes.fromhex(result)
        except (TypeError, ValueError):
            logger.warning("plugin sent a chunk that is not hex: %.200r", result)
            return None

    def _read_body(self, limit: int) -> bytes:
        """At most `limit` bytes of the body; the rest is read and dropped (the daemon's io.LimitReader)."""
        kept = bytearray()

        def take(size: int) -> None:
            while size > 0:
                data = self.rfile.read(min(size, DRAIN_CHUNK))
                if not data:
                    raise ClientGone()
                room = limit - len(kept)
                kept.extend(data[:room] if room > 0 else b"")
                size -= len(data)

        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ClientGone()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    break
                take(size)
                self.rfile.readline(1024)
        else:
            length = self.headers.get("Content-Length", "0").strip()
            take(int(length) if length.isdigit() else 0)
        return bytes(kept)

    def _send_preview(self, name: str) -> None:
        found = self.server.backend.upload_store.find(name)
        if found is None:
            self.send_plain(404, "404 page not found")
            return
        self.start_response(200, {"Content-Type": found["mimetype"], "Content-Length": str(found["size"])})
        if self.command == "GET":
            self.write_raw(found["content"])

    def start_response(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        try:
            self.send_response_only(status)
            self.send_header("Date", email.utils.formatdate(usegmt=True))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
        except OSError as e:
            raise ClientGone() from e

    def write_raw(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as e:
            raise ClientGone() from e
        self.bytes_out += len(data)

    def send_json(self, status: int, payload: Any) -> None:
        self._send_body(status, "application/json; charset=utf-8", json.dumps(payload).encode())

    def send_plain(self, status: int, text: str) -> None:
        # The connection may still hold an unread body: do not reuse it.
        self.close_connection = True
        self._send_body(status, "text/plain; charset=utf-8", text.encode())

    def _send_body(self, status: int, content_type: str, body: bytes) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        if self.close_connection:
            headers["Connection"] = "close"
        self.start_response(status, headers)
        if self.command != "HEAD":
            self.write_raw(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        logger.debug("http: " + format, *args)
