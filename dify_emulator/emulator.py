"""`Emulator`: the plugin process, the HTTP front and the emulated Dify side, wired together.

    with Emulator(scenario={"app": {"mode": "workflow"}}) as emu:
        requests.post(emu.base_url + "/v1/chat/completions", ...)

The CLI (`python -m dify_emulator serve`) is a thin shell around this class.

Two extensions beyond the contract in emulator.md, both optional:
- `observer`: a callable told, with a `time.perf_counter()` timestamp, what passes between the HTTP client, the
  plugin and the emulated Dify (see `dify_emulator.observe`). Benchmarks time the plugin with it; tests see what
  reached the plugin. Unset (the default), it costs nothing.
- `cancel_app_on_disconnect` (default True): when the HTTP client goes away mid-request, the session's running app
  streams fail with "read app failed: context canceled", as in daemons since 0.5.3 (the app stream is bound to the
  client's request context); False behaves like older daemons, whose app stream runs to its end. Either way,
  everything the plugin sends for that session afterwards is dropped, backwards invocations included (the daemon's
  session listener is closed), as is anything it sends after a session ended.
"""

import copy
import logging
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .apps import AppEmulator, main_app_ids
from .backwards import BackwardsDispatcher
from .conversations import ConversationStore
from .http_front import FrontServer
from .manifest import read_manifest
from .observe import Observer
from .plugin_process import PluginExited, PluginProcess
from .records import Recorder
from .scenario import apply_settings, load_scenario
from .sessions import Channel, SessionRouter
from .storage import PluginStorage
from .uploads import UploadStore

logger = logging.getLogger("dify_emulator")

REPO_ROOT = Path(__file__).resolve().parent.parent
# PLUGIN_MAX_EXECUTION_TIMEOUT, the daemon's default cap on one endpoint request.
MAX_EXECUTION_TIMEOUT = 600.0
STARTUP_TIMEOUT = 60.0


def endpoint_id_for(hook_id: str) -> str:
    """A stable endpoint id per hook: plugins prefix their storage keys with it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dify-emulator/endpoint/{hook_id}"))


class Emulator:
    def __init__(
        self,
        scenario: Mapping[str, Any] | str | None = None,
        plugin_dir: str | Path | None = None,
        settings: Mapping[str, Any] | None = None,
        record: str | Path | None = None,
        python: str | None = None,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        max_execution_timeout: float = MAX_EXECUTION_TIMEOUT,
        startup_timeout: float = STARTUP_TIMEOUT,
        observer: Observer | None = None,
        cancel_app_on_disconnect: bool = True,
    ) -> None:
        self.plugin_dir = Path(plugin_dir or REPO_ROOT).resolve()
        self.python = python or sys.executable
        self.host = host
        self.max_execution_timeout = max_execution_timeout
        self._startup_timeout = startup_timeout
        self._port = port
        self._env = dict(env or {})
        self._setting_overrides = dict(settings or {})
        self.manifest = read_manifest(self.plugin_dir)

        self._recorder = Recorder(record)
        self.storage = PluginStorage(self.manifest.storage_size)
        self.conversations = ConversationStore()
        self.upload_store = UploadStore(self._recorder, lambda: self.server_url)
        self._apps = AppEmulator(self.conversations, self.upload_store)
        self._router = SessionRouter()
        self._backwards = BackwardsDispatcher(
            self._send,
            {
                "app": self._apps.invoke,
                "fetch_app": self._apps.fetch_app,
                "storage": self.storage.handle,
                "upload_file": self.upload_store.sign,
            },
            self._recorder,
            self.manifest,
        )
        self._plugin: PluginProcess | None = None
        self._plugin_lock = threading.Lock()
        self._server: FrontServer | None = None
        self.settings: dict[str, Any] = {}
        self.hook_id = ""
        self._scenario: dict[str, Any] = {}
        self.cancel_app_on_disconnect = cancel_app_on_disconnect
        self._observer: Observer | None = None
        self.observer = observer
        self.load_scenario(scenario)

    # -- the optional observer hook ----------------------------------------------------------------------

    @property
    def observer(self) -> Observer | None:
        """`observer(kind, session_id, t, detail)`, see `dify_emulator.observe`; None turns it off."""
        return self._observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._observer = observer
        self._backwards.observe = self._observe_backwards if observer is not None else None

    def _observe_backwards(self, kind: str, session_id: str, detail: Any) -> None:
        observer = self._observer
        if observer is not None:
            observer(kind, session_id, time.perf_counter(), detail)

    # -- the Dify side -----------------------------------------------------------------------------------

    def load_scenario(self, scenario: Mapping[str, Any] | str | None) -> None:
        """Serve another scenario without restarting the plugin: apps, replies (cursors reset), settings
        (the constructor's `settings` overrides still apply) and hook id. Storage and conversations stay."""
        loaded = load_scenario(scenario)
        self.hook_id = loaded["hook_id"]
        self.settings = apply_settings(loaded["settings"], self._setting_overrides, self.manifest.app_selector_settings)
        self._scenario = loaded
        self._apps.load({**loaded, "settings": self.settings})

    def set_settings(self, **overrides: Any) -> None:
        """Override endpoint settings until the next load_scenario (an app-selector takes an app id)."""
        self.settings = apply_settings(self.settings, overrides, self.manifest.app_selector_settings)
        self._apps.select(main_app_ids(self._scenario, self.settings))

    @property
    def records(self) -> list[dict[str, Any]]:
        """Backwards invocations so far, as `--record` writes them; `records.clear()` forgets them."""
        return self._recorder.entries

    @property
    def uploads(self) -> list[dict[str, Any]]:
        """Files the plugin uploaded: {id, name, size, mimetype, content, extension}."""
        return self.upload_store.files

    @property
    def fail_storage(self) -> bool:
        return self.storage.fail

    @fail_storage.setter
    def fail_storage(self, value: bool) -> None:
        self.storage.fail = value

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "Emulator":
        """Bind the HTTP port (upload URLs need it), start the plugin, wait until it is ready, serve."""
        self._server = FrontServer(self.host, self._port, self)
        threading.Thread(target=self._server.serve_forever, name="http-front", daemon=True).start()
        try:
            self._spawn_plugin()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        with self._plugin_lock:
            plugin, self._plugin = self._plugin, None
        if plugin is not None:
            plugin.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def restart_plugin(self) -> None:
        """Kill the plugin and start it again; storage, conversations, records and uploads stay."""
        with self._plugin_lock:
            plugin, self._plugin = self._plugin, None
        if plugin is not None:
            plugin.stop()
        self._spawn_plugin()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn_plugin(self) -> None:
        plugin = PluginProcess(self.plugin_dir, self.python, self._env, self._on_session, self._router.owner_exited)
        plugin.start(self._startup_timeout)
        with self._plugin_lock:
            self._plugin = plugin
        logger.info("plugin %s ready (pid %s)", self.plugin_dir, plugin.pid)

    # -- addresses ---------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.port

    @property
    def server_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The endpoint base URL, `http://HOST:PORT/e/HOOK_ID`."""
        return f"{self.server_url}/e/{self.hook_id}"

    @property
    def endpoint_id(self) -> str:
        return endpoint_id_for(self.hook_id)

    @property
    def plugin_pid(self) -> int | None:
        plugin = self._plugin
        return plugin.pid if plugin else None

    @property
    def plugin_alive(self) -> bool:
        plugin = self._plugin
        return plugin is not None and plugin.alive

    # -- plumbing between the HTTP front, the plugin and the Dify side ---------------------------------

    def open_endpoint_session(self, raw_request: bytes) -> Channel:
        """Send one endpoint request to the plugin; its response arrives on the returned channel."""
        plugin = self._plugin
        if plugin is None or not plugin.alive:
            raise PluginExited("the plugin process is not running")
        session_id = str(uuid.uuid4())
        channel = self._router.open(session_id, plugin)
        try:
            plugin.send({
                "session_id": session_id,
                "conversation_id": None,
                "message_id": None,
                "app_id": None,
                "endpoint_id": self.endpoint_id,
                "context": {},
                "event": "request",
                "data": {
                    "user_id": "",
                    "type": "endpoint",
                    "action": "invoke_endpoint",
                    "settings": copy.deepcopy(self.settings),
                    "raw_http_request": raw_request.hex(),
                },
            })
        except PluginExited:
            self._router.close(session_id)
            raise
        observer = self._observer
        if observer is not None:
            observer("request", session_id, time.perf_counter(), raw_request)
        return channel

    def close_session(self, channel: Channel) -> None:
        self._router.close(channel.session_id)

    def abandon_session(self, channel: Channel) -> None:
        """The HTTP client went away before the response ended: do what the daemon does.

        Its session listener is closed (later messages of the session, backwards invocations included, are
        dropped) and, since daemon 0.5.3, the app streams it runs for the session fail with "context canceled".
        """
        self._router.close(channel.session_id)
        observer = self._observer
        if observer is not None:
            observer("client_gone", channel.session_id, time.perf_counter(), None)
        if self.cancel_app_on_disconnect:
            cancelled = self._backwards.cancel_session(channel.session_id)
            if cancelled:
                logger.info("client gone: cancelled %d app stream(s) of session %s", cancelled, channel.session_id)

    def _on_session(self, plugin: PluginProcess, session_id: str, message: dict[str, Any]) -> None:
        observer = self._observer
        now = time.perf_counter() if observer is not None else 0.0
        kind = message.get("type")
        data = message.get("data")
        if kind == "invoke" and isinstance(data, dict):
            if not self._router.is_open(session_id):
                # No listener for this session any more (its client left, or it ended): the daemon never sees
                # the invocation, so the plugin never gets an answer.
                logger.info("dropped a %s invocation of closed session %s", data.get("type"), session_id)
                if observer is not None:
                    observer("dropped", session_id, now, message)
                return
            self._backwards.dispatch(session_id, self.endpoint_id, data)
        elif kind in ("stream", "end", "error"):
            if observer is not None:
                _observe_session_message(observer, session_id, now, kind, data)
            self._router.deliver(session_id, kind, data)
        else:
            logger.warning("plugin sent an unknown session message: %.200r", message)

    def _send(self, message: dict[str, Any]) -> None:
        plugin = self._plugin
        if plugin is None:
            raise PluginExited("the plugin process is not running")
        plugin.send(message)


def _observe_session_message(observer: Observer, session_id: str, now: float, kind: str, data: Any) -> None:
    if kind != "stream":
        observer(kind, session_id, now, data)
        return
    if not isinstance(data, dict):
        return
    if "status" in data or "headers" in data:
        observer("status", session_id, now, data)
    result = data.get("result")
    if isinstance(result, str):
        try:
            observer("chunk", session_id, now, bytes.fromhex(result))
        except ValueError:
            pass
