"""The same hostile requests through the real plugin process (the SDK runtime over stdio, via dify_emulator).

One test per API, like the in-process fuzzing; `FUZZ_PLUGIN_EXAMPLES` per API (600 under `make fuzz`). All of them
go to one plugin process, which afterwards must be the same one, alive, answering normally on all three APIs, and
its logs free of tracebacks.
"""

from __future__ import annotations

import psutil
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from .apis import APIS, FuzzApi
from .harness import budget
from .headers import PLUGIN
from .oracle import check_answer
from .plugin_target import NotForThePlugin, PluginTarget, healthy_answers, plugin_target

EXAMPLES = budget("FUZZ_PLUGIN_EXAMPLES", 30)
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
             HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much]


@pytest.fixture(scope="module")
def plugin():
    with plugin_target() as target:
        yield target, target.emu.plugin_pid, psutil.Process(target.emu.plugin_pid).memory_info().rss


# One plugin process for all: its state after hostile requests is what the health check examines. A failure is
# shrunk alone (report_multiple_bugs=False): each call crosses the stdio protocol, and the in-process target, which
# reports every distinct failure, sees the same core.
@pytest.mark.parametrize("api", APIS, ids=lambda api: api.name)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_DATA, database=None,
          report_multiple_bugs=False)
@given(data=st.data())
def test_hostile_requests_through_the_plugin_process(plugin, api: FuzzApi, data: st.DataObject):
    target: PluginTarget = plugin[0]
    try:
        seen, answer = target.send(data.draw(api.requests(PLUGIN), label="request"))
    except NotForThePlugin:
        reject()
    check_answer(seen, answer, target=f"plugin/{api.name}")


def test_the_plugin_process_is_healthy_after_the_fuzzing(plugin):
    target, pid, rss_before = plugin
    assert target.emu.plugin_alive and target.emu.plugin_pid == pid
    healthy_answers(target.client, target.emu.base_url)
    problems = target.problems_in_logs()
    assert not problems, problems[:20]
    rss_after = psutil.Process(pid).memory_info().rss
    print(f"\nplugin RSS {rss_before / 2**20:.1f} MiB before the fuzzing, {rss_after / 2**20:.1f} MiB after")
