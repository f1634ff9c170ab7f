"""`ServiceApiEmulator`: Dify's Service API (what app API keys call) over the emulator's apps.

    with ServiceApiEmulator(scenario={"app": {"mode": "workflow"}}) as api:
        httpx.post(api.base_url + "/workflows/run", headers={"Authorization": f"Bearer {api.app_key(...)}"}, ...)

The scenario is the plugin Emulator's (`settings`, `app`, `apps`, `replies`); settings only tell the main app's
ids. Every app has an API key: its own `api_key` in the scenario, else `app-key-<app id>`.
"""

import threading
from collections.abc import Mapping
from typing import Any

from ..apps import main_app_ids
from ..scenario import load_scenario
from .routes import PING_INTERVAL, ServiceApi
from .server import API_PREFIX, ServiceApiServer


def app_keys(scenario: Mapping[str, Any]) -> dict[str, str]:
    """app id -> API key, for the main app's ids and every app of `apps`."""
    main = scenario["app"]
    keys = {app_id: str(main.get("api_key") or f"app-key-{app_id}")
            for app_id in sorted(main_app_ids(scenario, scenario["settings"]))}
    for app_id, spec in (scenario.get("apps") or {}).items():
        keys[app_id] = str(spec.get("api_key") or f"app-key-{app_id}")
    return keys


class ServiceApiEmulator:
    def __init__(self, scenario: Mapping[str, Any] | str | None = None, host: str = "127.0.0.1", port: int = 0,
                 ping_interval: float = PING_INTERVAL) -> None:
        self.host = host
        self._port = port
        self._server: ServiceApiServer | None = None
        self._api = ServiceApi(lambda: self.server_url)
        self._api.ping_interval = ping_interval
        self._keys: dict[str, str] = {}
        self.load_scenario(scenario)

    def load_scenario(self, scenario: Mapping[str, Any] | str | None) -> None:
        """Serve another scenario: apps, replies (cursors reset) and keys. Conversations and uploads stay."""
        loaded = load_scenario(scenario)
        self._keys = app_keys(loaded)
        self._api.load(loaded, self._keys)

    def app_key(self, app_id: str) -> str:
        """The API key of an app of the scenario (KeyError for an app it does not have)."""
        return self._keys[app_id]

    @property
    def app_keys(self) -> dict[str, str]:
        return dict(self._keys)

    @property
    def records(self) -> list[dict[str, Any]]:
        """One dict per API call, as the client sent it: {type, app_id, request, user}; `.clear()` forgets them."""
        return self._api.records

    @property
    def uploads(self) -> list[dict[str, Any]]:
        """Files uploaded so far: {id, name, size, mimetype, content, extension, created_by, created_at}."""
        return self._api.uploads.files

    @property
    def conversations(self) -> Any:
        """conversation id -> {"app_id", "queries", "variables"}, as `Emulator.conversations`."""
        return self._api.conversations

    @property
    def ping_interval(self) -> float:
        """Seconds between pings on a stream (Dify: 10)."""
        return self._api.ping_interval

    @ping_interval.setter
    def ping_interval(self, seconds: float) -> None:
        self._api.ping_interval = seconds

    def start(self) -> "ServiceApiEmulator":
        self._server = ServiceApiServer(self.host, self._port, self._api)
        threading.Thread(target=self._server.serve_forever, name="service-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ServiceApiEmulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Service API emulator is not started")
        return self._server.port

    @property
    def server_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/v1`."""
        return self.server_url + API_PREFIX
