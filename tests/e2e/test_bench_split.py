"""bench/split.py's hook counts what it says, in the real plugin process and the probe, without changing answers.

No time is asserted: only that every request is counted and the parts add up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import PROBE_DIR, ROOT, chat_body
from bench.split import counted


@pytest.mark.parametrize(("plugin_dir", "path", "body"), [
    (ROOT, "/v1/chat/completions", lambda text: chat_body(text, stream=False)),
    (PROBE_DIR, "/whole", lambda text: {"query": text}),
], ids=["this plugin", "probe /whole"])
def test_every_request_is_counted_and_the_parts_add_up(tmp_path: Path, plugin_dir, path, body):
    figures = counted(plugin_dir, path, body, requests=30, out=tmp_path / "split.json", warm_up=5)
    assert figures["stream_wall"] > 0 and figures["stream_cpu"] > 0  # the app stream was seen on every request
    assert figures["stream_wall"] <= figures["handler_wall"] <= figures["request_wall"]
    assert figures["own_wall"] == pytest.approx(figures["handler_wall"] - figures["stream_wall"])
    assert figures["own_cpu"] == pytest.approx(figures["handler_cpu"] - figures["stream_cpu"])
    assert figures["around_wall"] == pytest.approx(figures["request_wall"] - figures["handler_wall"])
