"""Plugin storage through the real SDK: operations, key rules, size limit, restarts, faults."""

import pytest

from .conftest import storage_ops


def test_set_get_exist_delete(emu):
    results = storage_ops(
        emu,
        {"op": "set", "key": "k1", "value": "hello"},
        {"op": "get", "key": "k1"},
        {"op": "exist", "key": "k1"},
        {"op": "del", "key": "k1"},
        {"op": "exist", "key": "k1"},
        {"op": "get", "key": "k1"},
    )
    assert results[:5] == [{"ok": True}, {"ok": True, "value": "hello"}, {"ok": True, "exist": True}, {"ok": True},
                           {"ok": True, "exist": False}]
    assert results[5]["ok"] is False and "load data failed" in results[5]["error"]
    opts = [r["request"]["opt"] for r in emu.records if r["type"] == "storage"]
    assert opts == ["set", "get", "exist", "del", "exist", "get"]


def test_storage_view_for_tests(emu):
    emu.storage["seeded"] = b"from test"
    assert storage_ops(emu, {"op": "get", "key": "seeded"}) == [{"ok": True, "value": "from test"}]
    storage_ops(emu, {"op": "set", "key": "from-plugin", "value": "v"})
    assert emu.storage["from-plugin"] == b"v"


@pytest.mark.parametrize("key", ["../escape", "a//b", "a\\b", "x" * 257])
def test_key_rules(emu, key):
    [result] = storage_ops(emu, {"op": "set", "key": key, "value": "v"})
    assert result["ok"] is False and "save data failed" in result["error"]
    assert key not in emu.storage


def test_size_limit_from_manifest(emu):
    assert emu.storage.max_size == 65536  # the probe manifest's resource.permission.storage.size
    results = storage_ops(emu, {"op": "set", "key": "a", "size": 40000}, {"op": "set", "key": "b", "size": 30000},
                          {"op": "set", "key": "a", "size": 30000}, {"op": "set", "key": "b", "size": 30000})
    assert results[0] == {"ok": True}
    assert results[1]["ok"] is False and "allocated size is greater than max storage size" in results[1]["error"]
    assert results[2:] == [{"ok": True}, {"ok": True}]


def test_storage_survives_plugin_restart(emu):
    storage_ops(emu, {"op": "set", "key": "durable", "value": "still here"})
    old_pid = emu.plugin_pid
    emu.restart_plugin()
    assert emu.plugin_pid != old_pid
    assert storage_ops(emu, {"op": "get", "key": "durable"}) == [{"ok": True, "value": "still here"}]


def test_fail_storage_switch(emu):
    emu.fail_storage = True
    results = storage_ops(emu, {"op": "set", "key": "k", "value": "v"}, {"op": "exist", "key": "k"})
    assert all(r["ok"] is False for r in results)
    emu.fail_storage = False
    assert storage_ops(emu, {"op": "set", "key": "k", "value": "v"}) == [{"ok": True}]
