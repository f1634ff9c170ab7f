"""Sending generated requests to the standalone gateway's WSGI app in-process, over the emulated Service API (loopback)
with the plugin fuzz's app, and knowing what the app then received, for the oracle.

A request reaches the app as gunicorn (the gateway's server) would hand it over: the path percent-decoded into
PATH_INFO, repeated headers joined with commas, header names with "_" dropped, the body as long as Content-Length
says. What gunicorn refuses itself before the app runs (over-long request lines and header fields, control bytes,
lower-case methods) is sent anyway: the app must answer it too.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx

from dify_emulator.service_api import ServiceApiEmulator
from gateway.app import GatewayApp
from gateway.config import GatewayConfig, parse
from gateway.storage import SqliteStorage

from .harness import AUTH, REQUIRED, SEED_RESPONSE, delivered_path, with_known_response
from .headers import ALLOWED_ORIGIN
from .oracle import Answer, Seen
from .plugin_target import SCENARIO
from .strategies import API_KEY, FuzzRequest

REQUIRED_APP = "app-fuzz-required"
# The plugin fuzz's scenario (a chat app echoing the query, with a file list and a system prompt input), and a
# second echo app whose form requires an input, for a gateway serving two models.
GATEWAY_SCENARIO: dict[str, Any] = {
    **SCENARIO,
    "apps": {REQUIRED_APP: {"mode": "chat", "name": "Fuzz required", "replies": [{"echo": True}],
                            "parameters": {"user_input_form": [REQUIRED]}}},
}
MAIN_APP = SCENARIO["settings"]["app_id"]["app_id"]


class GatewayTarget:
    # Not a dataclass: Hypothesis prints a dataclass field by field, and a failing example would show the app keys.
    def __init__(self, name: str, app: GatewayApp, config: GatewayConfig) -> None:
        self.name, self.app, self.config = name, app, config
        self.known_response = ""

    def __repr__(self) -> str:
        return f"<gateway {self.name}>"

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        raw = str(self.config.options.get("cors_allow_origins", ""))
        return tuple(origin.strip() for origin in raw.split(",") if origin.strip())

    @property
    def secrets(self) -> tuple[str, ...]:
        """The Dify app keys behind the gateway: no answer may carry one."""
        return tuple(model.app_key for model in self.config.models)

    def client(self) -> httpx.Client:
        """An ordinary HTTP client of the same app instance (for seeding and the health check)."""
        return httpx.Client(transport=httpx.WSGITransport(app=self.app), base_url="http://gateway.test")

    def seed_known_response(self) -> None:
        with self.client() as client:
            response = client.post("/v1/responses", headers=AUTH, content=SEED_RESPONSE)
        assert response.status_code == 200, response.text
        self.known_response = response.json()["id"]

    def send(self, request: FuzzRequest) -> tuple[Seen, Answer]:
        method, path, headers, body, lie = with_known_response(request, self.known_response)
        environ, received = wsgi_environ(method, path, headers, body, lie)
        origins = [value for name, value in received if name.lower() == "origin"]
        seen = Seen(method, delivered_path(path), received, ",".join(origins), self.allowed_origins)
        started = time.perf_counter()
        status, answer_headers, payload = call_wsgi(self.app, environ)
        return seen, Answer(status, answer_headers, payload, time.perf_counter() - started)


def wsgi_environ(method: str, path: str, headers: list[tuple[str, str]], body: bytes,
                 lie: int | None) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The WSGI environ gunicorn builds for the request, and the headers the app sees in it."""
    raw_path, _, query = path.partition("?")
    declared = lie if lie is not None else len(body) if body or method in ("POST", "PUT") else None
    if declared is not None and declared < len(body):
        body = body[:declared]  # gunicorn reads no further than Content-Length
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        # PEP 3333: the percent-decoded bytes of the path, as latin-1 (gunicorn's unquote_to_wsgi_str).
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"), "RAW_URI": path,
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.input_terminated": False,
    }
    if declared is not None:
        environ["CONTENT_LENGTH"] = str(declared)
    received: list[tuple[str, str]] = []
    for name, value in headers:
        if "_" in name or name.lower() == "content-length":
            continue  # gunicorn drops names with "_" (header_map = "drop"); the length is the request's own
        value = value.strip(" \t")
        received.append((name, value))
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value  # the last one counts
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ, received


def call_wsgi(app: GatewayApp, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the whole body (a stream read to its end, then closed, as a server does)."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = app(environ, start_response)  # type: ignore[arg-type]  # a plain dict is what servers pass
    try:
        payload = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[-1]
    return int(status.split(" ", 1)[0]), dict(headers), payload


def _config(api: ServiceApiEmulator, models: list[dict[str, Any]], options: dict[str, Any]) -> GatewayConfig:
    return parse({"dify_url": api.base_url, "client_keys": [API_KEY], "models": models, "options": options}, {})


@contextmanager
def gateway_targets(folder: Path) -> Iterator[list[GatewayTarget]]:
    """Two gateways over one emulated Service API: the plugin fuzz's deployment (one model, one allowed origin) and
    one with two models (the second app requires an input), any origin allowed and reasoning inline."""
    with ServiceApiEmulator(scenario=GATEWAY_SCENARIO) as api:
        main, required = api.app_key(MAIN_APP), api.app_key(REQUIRED_APP)
        configs = {
            "one model": _config(api, [{"name": "dify-app", "app_key": main, "memory_mode": "conversation"}],
                                 {"cors_allow_origins": ALLOWED_ORIGIN}),
            "two models": _config(api, [{"name": "dify-app", "app_key": main, "memory_mode": "last_user_message"},
                                        {"name": "my model", "app_key": required, "memory_mode": "all_messages"}],
                                  {"cors_allow_origins": "*", "reasoning_mode": "inline"}),
        }
        targets = []
        for at, (name, config) in enumerate(configs.items()):
            storage = SqliteStorage(str(folder / f"state-{at}.sqlite3"))
            target = GatewayTarget(name, GatewayApp(config, storage=storage), config)
            target.seed_known_response()
            targets.append(target)
        yield targets

