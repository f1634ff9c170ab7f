"""Property-based fuzzing of the request path, in-process: every answer is a 4xx OpenAI error or a valid success.

`FUZZ_EXAMPLES` sets the budget (10,000 under `make fuzz`; a small default keeps `make test` quick).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import budget, deployments, run_in_process
from .oracle import check_answer
from .strategies import requests

EXAMPLES = budget("FUZZ_EXAMPLES", 300)
DEPLOYMENTS = deployments()
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
             HealthCheck.filter_too_much]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_DATA, print_blob=True)
@given(request=requests(), deployment=st.sampled_from(DEPLOYMENTS))
def test_every_request_gets_an_openai_error_or_a_valid_success(request, deployment):
    method, path, headers, body = request
    status, response_headers, payload = run_in_process(deployment, method, path, headers, body)
    check_answer(method, path, status, response_headers, payload)
