"""Backwards invocations: the plugin asks Dify for something (an app run, storage, a file URL ...).

Each invocation runs in its own thread so a slow app stream never holds up the others. Replies go back on
the plugin's stdin as `backwards_response` messages: one `response` per chunk, then `end`, or `error` then
`end` (`transaction.NewFullDuplexEventWriter` in the daemon).

When the HTTP client of an endpoint request goes away, daemons since 0.5.3 cancel the request's context, and the
app stream they were reading from Dify for that session is bound to it: the plugin gets `error` "read app failed:
context canceled" then `end` for it (`executeDifyInvocationAppTask`). `cancel_session` does the same.
"""

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import BackwardsError
from .manifest import PluginManifest
from .records import Recorder

logger = logging.getLogger("dify_emulator")

Handler = Callable[[dict[str, Any]], Iterable[dict[str, Any]]]

# The daemon answers streamed invocations with message "stream" and single replies with "struct".
STREAMED_TYPES = frozenset({"app"})
# What the daemon reports for an app stream whose HTTP client went away (Go's context.Canceled).
CANCELED_MESSAGE = "read app failed: context canceled"
# observe(kind, session_id, detail): "app_event" per app chunk, just before it is written (so whatever the plugin
# does with it is observed later), "app_end" when an app invocation is over.
Observe = Callable[[str, str, Any], None]
# upload_file is recorded by the upload store once the plugin has sent the file (the record carries it).
RECORDED_ELSEWHERE = frozenset({"upload_file"})


def permission_error(manifest: PluginManifest, invoke_type: str) -> str | None:
    """The daemon's `checkPermission` wording when the manifest does not allow `invoke_type`."""
    if invoke_type in ("app", "fetch_app") and not manifest.app_enabled:
        return "permission denied, you need to enable app access in plugin manifest"
    if invoke_type == "storage" and not manifest.storage_enabled:
        return "permission denied, you need to enable storage access in plugin manifest"
    return None


class BackwardsDispatcher:
    def __init__(
        self,
        send: Callable[[dict[str, Any]], None],
        handlers: Mapping[str, Handler],
        recorder: Recorder,
        manifest: PluginManifest,
    ) -> None:
        self._send = send
        self._handlers = handlers
        self._recorder = recorder
        self._manifest = manifest
        self.observe: Observe | None = None
        self._lock = threading.Lock()
        self._inflight: dict[str, set[_Invocation]] = {}

    def cancel_session(self, session_id: str) -> int:
        """Abort the session's running app streams as the daemon does when the client went away; how many."""
        with self._lock:
            running = list(self._inflight.get(session_id, ()))
        cancelled = 0
        for invocation in running:
            if invocation.invoke_type in STREAMED_TYPES and invocation.cancel(CANCELED_MESSAGE):
                cancelled += 1
        return cancelled

    def dispatch(self, session_id: str, endpoint_id: str, invoke: Mapping[str, Any]) -> None:
        """Answer one `invoke` session message (in a new thread)."""
        threading.Thread(
            target=self._run, args=(session_id, endpoint_id, invoke), name="backwards-invocation", daemon=True
        ).start()

    def _run(self, session_id: str, endpoint_id: str, invoke: Mapping[str, Any]) -> None:
        invoke_type = str(invoke.get("type"))
        request_id = invoke.get("backwards_request_id")
        request = invoke.get("request")
        if not isinstance(request, dict) or not isinstance(request_id, str):
            logger.warning("malformed backwards invocation from the plugin: %r", invoke)
            return
        if invoke_type not in RECORDED_ELSEWHERE:
            self._recorder.add({"type": invoke_type, "request": request})

        def send(event: str, message: str, data: Any) -> None:
            self._send({
                "session_id": session_id,
                "conversation_id": None,
                "message_id": None,
                "app_id": None,
                "endpoint_id": endpoint_id,
                "context": {},
                "event": "backwards_response",
                "data": {"backwards_request_id": request_id, "event": event, "message": message, "data": data},
            })

        invocation = _Invocation(session_id, invoke_type, send, self.observe)
        with self._lock:
            self._inflight.setdefault(session_id, set()).add(invocation)
        chunks = None
        try:
            try:
                denied = permission_error(self._manifest, invoke_type)
                handler = self._handlers.get(invoke_type)
                if denied:
                    raise BackwardsError(denied)
                if handler is None:
                    raise BackwardsError(f"unsupported backwards invocation: {invoke_type}")
                message = "stream" if invoke_type in STREAMED_TYPES else "struct"
                chunks = iter(handler(request))
                for chunk in chunks:
                    if not invocation.reply("response", message, chunk):
                        break  # cancelled: the daemon stops reading Dify's stream
            except BackwardsError as e:
                invocation.reply("error", e.message, None)
            except Exception as e:  # a bug in the emulator must still answer the plugin
                logger.exception("backwards invocation %s failed", invoke_type)
                invocation.reply("error", f"emulator error: {e}", None)
            invocation.finish()
        except OSError:
            # The plugin is gone (or restarting): nobody is waiting for the rest.
            logger.debug("plugin went away during backwards invocation %s", invoke_type)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            with self._lock:
                running = self._inflight.get(session_id)
                if running is not None:
                    running.discard(invocation)
                    if not running:
                        del self._inflight[session_id]


class _Invocation:
    """One backwards invocation's replies: serialized, and nothing after `end` (or a cancellation)."""

    def __init__(self, session_id: str, invoke_type: str, send: Callable[[str, str, Any], None],
                 observe: Observe | None) -> None:
        self.session_id = session_id
        self.invoke_type = invoke_type
        self._send = send
        self._observe = observe if invoke_type in STREAMED_TYPES else None
        self._lock = threading.Lock()
        self._ended = False
        self._sent = 0
        self._error: str | None = None
        self._cancelled = False

    def reply(self, event: str, message: str, data: Any) -> bool:
        """Send one reply; False once the invocation is over (ended or cancelled)."""
        with self._lock:
            if self._ended:
                return False
            if event == "response" and self._observe is not None:
                self._observe("app_event", self.session_id, data)
            self._send(event, message, data)
            if event == "response":
                self._sent += 1
            elif event == "error":
                self._error = message
            return True

    def finish(self) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            self._send("end", "", None)
            self._report()

    def cancel(self, message: str) -> bool:
        """Fail the invocation now (error, then end), whatever its handler is doing; False if already over."""
        with self._lock:
            if self._ended:
                return False
            self._ended = self._cancelled = True
            self._error = message
            try:
                self._send("error", message, None)
                self._send("end", "", None)
            except OSError:
                logger.debug("plugin went away while cancelling a backwards invocation")
            self._report()
            return True

    def _report(self) -> None:
        if self._observe is not None:
            self._observe("app_end", self.session_id,
                          {"events": self._sent, "cancelled": self._cancelled, "error": self._error})
