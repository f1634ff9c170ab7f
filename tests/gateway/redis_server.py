"""A real Debian `redis-server` for tests: loopback only, its own temp dir, stopped by the test that started it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.components import require


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """The URL of a fresh redis-server; skipped (failed in CI) where none is installed."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server (Debian package redis-server; `make test` installs it as root)")
    assert binary is not None
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", folder,
                                    "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)
