"""The plugin package stays what it was: the gateway is left out of the .difypkg."""

from pathlib import Path

from tools.ignore import load_ignore_rules
from tools.package import collect_files

ROOT = Path(__file__).resolve().parents[2]


def test_the_gateway_is_not_in_the_plugin_package(tmp_path):
    _, rules = load_ignore_rules(ROOT)
    packaged = [f.rel for f in collect_files(ROOT, rules, tmp_path)]
    assert "openai_bridge/http/server.py" in packaged
    assert not [rel for rel in packaged if rel.startswith("gateway/")]
