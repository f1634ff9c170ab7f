"""Backwards invocations: the plugin asks Dify for something (an app run, storage, a file URL ...).

Each invocation runs in its own thread so a slow app stream never holds up the others. Replies go back on
the plugin's stdin as `backwards_response` messages: one `response` per chunk, then `end`, or `error` then
`end` (`transaction.NewFullDuplexEventWriter` in the daemon).
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

        def reply(event: str, message: str, data: dict[str, Any] | None) -> None:
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

        try:
            try:
                denied = permission_error(self._manifest, invoke_type)
                handler = self._handlers.get(invoke_type)
                if denied:
                    raise BackwardsError(denied)
                if handler is None:
                    raise BackwardsError(f"unsupported backwards invocation: {invoke_type}")
                message = "stream" if invoke_type in STREAMED_TYPES else "struct"
                for chunk in handler(request):
                    reply("response", message, chunk)
            except BackwardsError as e:
                reply("error", e.message, None)
            except Exception as e:  # a bug in the emulator must still answer the plugin
                logger.exception("backwards invocation %s failed", invoke_type)
                reply("error", f"emulator error: {e}", None)
            reply("end", "", None)
        except OSError:
            # The plugin is gone (or restarting): nobody is waiting for the rest.
            logger.debug("plugin went away during backwards invocation %s", invoke_type)
