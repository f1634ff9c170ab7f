"""The plugin process, started as Dify starts it, and the multiplexer of its stdio.

stdout carries one JSON object per line (blank lines between them, lines can be several MB): the bare
manifest first (no `event`), then `heartbeat`, `log`, `error` and `session` messages. stdin takes one JSON
object per line; writers share it, so writes are serialized.
"""

import collections
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger("dify_emulator")

STDERR_TAIL_LINES = 40


class PluginStartError(RuntimeError):
    """The plugin died or did not become ready; the message carries the tail of its stderr."""


class PluginExited(ConnectionError):
    """The plugin process is gone: nothing can be sent to it any more."""


SessionCallback = Callable[["PluginProcess", str, dict[str, Any]], None]
ExitCallback = Callable[["PluginProcess", int | None], None]


class PluginProcess:
    """One run of `python -m main` in the plugin folder, with INSTALL_METHOD=local."""

    def __init__(
        self,
        plugin_dir: Path,
        python: str,
        env: Mapping[str, str],
        on_session: SessionCallback,
        on_exit: ExitCallback,
    ) -> None:
        self.plugin_dir = plugin_dir
        self._python = python
        self._env = dict(env)
        self._on_session = on_session
        self._on_exit = on_exit
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdin_lock = threading.Lock()
        self._ready = threading.Event()
        self._exited = threading.Event()
        self._stopping = False
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._exited.is_set()

    def start(self, timeout: float) -> None:
        """Spawn the plugin and wait for its first heartbeat."""
        if not (self.plugin_dir / "main.py").is_file():
            raise PluginStartError(f"no plugin in {self.plugin_dir}: main.py not found")
        env = {**os.environ, **self._env, "INSTALL_METHOD": "local"}
        try:
            self._proc = subprocess.Popen(
                [self._python, "-m", "main"],
                cwd=self.plugin_dir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # Own process group: a Ctrl-C meant for the emulator must not hit the plugin first.
                start_new_session=True,
            )
        except OSError as e:
            raise PluginStartError(f"cannot run {self._python!r}: {e}") from e
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._read_stdout, args=(self._proc.stdout,), name="plugin-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), name="plugin-stderr", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._exited.is_set() or time.monotonic() > deadline:
                reason = (
                    f"exited with code {self._proc.poll()}" if self._exited.is_set()
                    else f"sent no heartbeat within {timeout:g} s"
                )
                self.stop()
                tail = "\n".join(self._stderr_tail) or "(nothing on stderr)"
                raise PluginStartError(f"plugin in {self.plugin_dir} {reason}; its stderr ends with:\n{tail}")

    def send(self, message: Mapping[str, Any]) -> None:
        """Write one message as one line on the plugin's stdin."""
        line = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._stdin_lock:
            if self._proc is None or self._proc.stdin is None or self._exited.is_set():
                raise PluginExited("the plugin process is not running")
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as e:
                raise PluginExited(f"the plugin process is not running: {e}") from e

    def stop(self) -> None:
        """Terminate the plugin (SIGTERM, then SIGKILL). Its stdin stays open: at EOF the SDK spins."""
        self._stopping = True
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        # Wait for the reader to see EOF, so that in-flight sessions are failed before stop() returns.
        self._exited.wait(5)

    def _read_stdout(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:  # readline has no length limit: multi-MB lines are fine
                line = raw.strip()
                if line:
                    self._handle_line(line)
        except (OSError, ValueError) as e:
            logger.debug("plugin stdout closed: %s", e)
        code = self._proc.wait() if self._proc else None
        self._exited.set()
        if not self._stopping:
            logger.warning("plugin process %s exited with code %s", self.pid, code)
            for line in self._stderr_tail:
                logger.warning("plugin stderr: %s", line)
        self._on_exit(self, code)

    def _handle_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            logger.warning("plugin wrote a non-JSON line to stdout: %.200r", line)
            return
        if not isinstance(message, dict):
            logger.warning("plugin wrote unexpected JSON to stdout: %.200r", line)
            return
        event, data = message.get("event"), message.get("data")
        if event is None:
            logger.debug("plugin manifest received")  # the bare manifest that opens a local run
        elif event == "heartbeat":
            self._ready.set()
        elif event == "log" and isinstance(data, dict):
            logger.info("plugin %s: %s", data.get("level", "INFO"), data.get("message", ""))
        elif event == "error":
            logger.warning("plugin error: %s", data)
        elif event == "session" and isinstance(data, dict) and isinstance(message.get("session_id"), str):
            try:
                self._on_session(self, message["session_id"], data)
            except Exception:
                logger.exception("failed to route a session message")
        else:
            logger.warning("plugin sent an unknown message: %.200r", line)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(text)
            logger.info("plugin stderr: %s", text)
