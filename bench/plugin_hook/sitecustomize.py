"""Bench-only: where a plugin's time goes while it answers, without changing the plugin (bench/split.py).

`python -m bench` puts this folder on the plugin process's PYTHONPATH with BENCH_SPLIT_OUT set. SIGUSR2 starts (or
restarts) the count; SIGUSR1 writes it to BENCH_SPLIT_OUT as JSON. Counted per endpoint request: the request as the
SDK runs it once its line is parsed (`Plugin._execute_request`: the session, the HTTP request, the handler, the
response line), the handler's share (`Endpoint.invoke`), and the part of that spent inside the SDK's app stream
(the chat invocation and every `next()` on it), so whatever is left is the plugin's own work. All are measured on
the request's own thread (`time.thread_time`), which the SDK's reader thread does not share.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_OUT = os.environ.get("BENCH_SPLIT_OUT", "")
_FIGURES = ("requests", "request_wall", "request_cpu", "handler_wall", "handler_cpu", "stream_wall", "stream_cpu")
_totals = dict.fromkeys(_FIGURES, 0.0)
_installed: list[bool] = []


@contextmanager
def _counted(part: str) -> Iterator[None]:
    """Add the wall and CPU time of the block to `part`'s totals, however it ends."""
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        _totals[f"{part}_wall"] += time.perf_counter() - wall
        _totals[f"{part}_cpu"] += time.thread_time() - cpu


def _timed_stream(stream: Any) -> Iterator[Any]:
    iterator = iter(stream)
    try:
        while True:
            with _counted("stream"):
                try:
                    event = next(iterator)
                except StopIteration:
                    return
            yield event
    finally:
        # Closing early (the plugin has its answer) must still close the SDK's stream, and is counted as its time.
        close = getattr(iterator, "close", None)
        if close is not None:
            with _counted("stream"):
                close()


def _install() -> None:
    from dify_plugin.interfaces.endpoint.endpoint import Endpoint
    from dify_plugin.invocations.app.chat import ChatAppInvocation
    from dify_plugin.plugin import Plugin

    execute, invoke_endpoint, invoke_app = Plugin._execute_request, Endpoint.invoke, ChatAppInvocation.invoke

    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _counted("request"):
            return execute(self, *args, **kwargs)

    def endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        _totals["requests"] += 1
        with _counted("handler"):
            return invoke_endpoint(self, *args, **kwargs)

    def app(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _counted("stream"):
            result = invoke_app(self, *args, **kwargs)
        return _timed_stream(result) if kwargs.get("response_mode", "streaming") == "streaming" else result

    Plugin._execute_request = request  # type: ignore[method-assign]
    Endpoint.invoke = endpoint  # type: ignore[method-assign]
    ChatAppInvocation.invoke = app  # type: ignore[method-assign]


def _restart(*_: object) -> None:
    if not _installed:
        _installed.append(True)
        _install()
    _totals.update(dict.fromkeys(_FIGURES, 0.0))


def _write(*_: object) -> None:
    with open(_OUT, "w") as out:
        json.dump(_totals, out)


if _OUT:
    signal.signal(signal.SIGUSR2, _restart)
    signal.signal(signal.SIGUSR1, _write)
