"""The same hostile requests to the standalone gateway's WSGI app (in-process, over the emulated Service API).

One test per API, like the core and plugin fuzzing; `FUZZ_GATEWAY_EXAMPLES` per API (2,000 under `make fuzz`).
Every answer must pass the same oracle, and carry none of the gateway's Dify app keys either. Afterwards the same
app instances must answer normally on all three APIs, and nothing may have logged a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .apis import APIS, FuzzApi
from .gateway_target import GatewayTarget, gateway_targets
from .harness import budget
from .headers import CORE
from .oracle import check_answer
from .plugin_target import healthy_answers

EXAMPLES = budget("FUZZ_GATEWAY_EXAMPLES", 30)
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
             HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much]


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[GatewayTarget], _Tracebacks]]:
    errors = _Tracebacks()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        with gateway_targets(Path(tmp_path_factory.mktemp("gateway-fuzz"))) as targets:
            yield targets, errors
    finally:
        root.removeHandler(errors)


# Both gateways share the module: their state after hostile requests is what the health check examines. The core
# behind them is the in-process target's, which reports every distinct failure; here one is shrunk at a time.
@pytest.mark.parametrize("api", APIS, ids=lambda api: api.name)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_DATA, database=None,
          report_multiple_bugs=False)
@given(data=st.data())
def test_hostile_requests_to_the_gateway(gateways, api: FuzzApi, data: st.DataObject):
    targets, _ = gateways
    target: GatewayTarget = data.draw(st.sampled_from(targets), label="gateway")
    seen, answer = target.send(data.draw(api.requests(CORE), label="request"))
    check_answer(seen, answer, target=f"gateway/{api.name}", secrets=target.secrets)


def test_the_gateway_is_healthy_after_the_fuzzing(gateways):
    targets, errors = gateways
    for target in targets:
        with target.client() as client:
            healthy_answers(client, "http://gateway.test")
    assert not errors.records, errors.records[:20]
