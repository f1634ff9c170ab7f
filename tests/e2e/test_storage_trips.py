"""The daemon's storage round trips per request in `conversation` mode, through the real plugin process.

Counted from the emulator's record of backwards invocations (what `--record` writes); bench/storage_trips.py prints
the same counts for `make bench`.
"""

from __future__ import annotations

from typing import Any

import openai

from dify_emulator import Emulator

from .conftest import API_KEY, scenario


def trips(emu: Emulator) -> tuple[list[str], list[str]]:
    """Storage operations before the app call and after it, from the records since the last clear."""
    before: list[str] = []
    after: list[str] = []
    side = before
    for record in emu.records:
        if record["type"] == "app":
            side = after
        elif record["type"] == "storage":
            side.append(record["request"]["opt"])
    emu.records.clear()
    return before, after


def chat(client: openai.OpenAI, messages: list[Any]) -> str:
    return client.chat.completions.create(model="dify", messages=messages).choices[0].message.content or ""


def test_a_warm_thread_costs_one_read_before_dify_and_a_missing_record_get_and_exist(emu: Emulator):
    emu.load_scenario(scenario(memory_mode="conversation"))
    emu.records.clear()
    client = openai.OpenAI(base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    first = [{"role": "user", "content": "first turn"}]
    answer = chat(client, first)
    # A new app's record does not exist yet: the daemon answers a missing key like a failing store, so the plugin
    # asks which it was before writing a fresh record (and needs no delete).
    assert trips(emu) == ([], ["get", "exist", "set"])
    chat(client, [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "second turn"}])
    # An overwrite is a delete then a set: daemons before 0.5.7 count every set's full size against the quota.
    assert trips(emu) == (["get"], ["get", "del", "set"])
