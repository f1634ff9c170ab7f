"""Property-based fuzzing of every API, in-process: every answer is a 4xx OpenAI error or a valid success.

One test per API (chat, responses, completions, models, routes, headers: see `apis`), each with its own budget:
`FUZZ_EXAMPLES` per API (10,000 under `make fuzz`; a small default keeps `make test` quick).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .apis import APIS, FuzzApi
from .harness import budget, deployments, run_in_process
from .headers import CORE
from .oracle import check_answer

EXAMPLES = budget("FUZZ_EXAMPLES", 100)
DEPLOYMENTS = deployments()
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
             HealthCheck.filter_too_much]


@pytest.mark.parametrize("api", APIS, ids=lambda api: api.name)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_DATA, print_blob=True)
@given(data=st.data(), deployment=st.sampled_from(DEPLOYMENTS))
def test_every_request_gets_an_openai_error_or_a_valid_success(api: FuzzApi, data: st.DataObject, deployment):
    request = data.draw(api.requests(CORE), label="request")
    seen, answer = run_in_process(deployment, request)
    check_answer(seen, answer, target=f"core/{api.name}")
