"""The daemon's HTTP side: routing, request rewriting, body limit, streaming, concurrency, failures."""

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from .conftest import HTTP_TIMEOUT

TEN_MB = 10 * 1024 * 1024


def probe_chunks(n: int, size: int, tag: str = "") -> list[bytes]:
    """What the probe's /stream sends: chunk i is `<tag><i:06d>|` padded with dots to `size` bytes."""
    return [f"{tag}{i:06d}|".encode().ljust(size, b".")[:size] for i in range(n)]


def get_json(url: str, **kwargs):
    response = requests.get(url, timeout=HTTP_TIMEOUT, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_unknown_hook_and_other_paths_are_404(emu):
    assert requests.get(f"{emu.server_url}/e/other/headers", timeout=HTTP_TIMEOUT).status_code == 404
    assert requests.get(f"{emu.server_url}/elsewhere", timeout=HTTP_TIMEOUT).status_code == 404
    assert requests.get(f"{emu.server_url}/e/{emu.hook_id}x/headers", timeout=HTTP_TIMEOUT).status_code == 404


def test_patch_is_405(emu):
    assert requests.patch(emu.base_url + "/headers", timeout=HTTP_TIMEOUT).status_code == 405


def test_path_is_stripped_and_query_kept(emu):
    seen = get_json(emu.base_url + "/h/a/b%20c?x=1&y=two")
    assert seen["path"] == "/h/a/b c"
    assert seen["values"] == {"rest": "a/b c"}
    assert seen["query_string"] == "x=1&y=two"
    assert seen["endpoint_id"] == emu.endpoint_id


def test_empty_path_becomes_root(emu):
    # The probe has no "/" route: the plugin's own 404 proves the request reached it with path "/".
    response = requests.get(emu.base_url, timeout=HTTP_TIMEOUT)
    assert response.status_code == 404
    assert "Failed to dispatch endpoint request" in response.text


def test_ip_headers_stripped_and_hook_headers_set(emu):
    seen = get_json(
        emu.base_url + "/headers",
        headers={"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "1.2.3.4", "X-Custom": "kept"},
    )
    headers = seen["headers"]
    assert "X-Forwarded-For" not in headers and "X-Real-Ip" not in headers
    assert headers["X-Custom"] == "kept"
    assert headers["Dify-Hook-Id"] == emu.hook_id
    netloc = urlsplit(emu.server_url).netloc
    assert headers["Dify-Hook-Url"] == f"http://{netloc}/e/{emu.hook_id}/headers"
    # A client-provided Dify-Hook-Url is kept, as in the daemon.
    kept = get_json(emu.base_url + "/headers", headers={"Dify-Hook-Url": "https://public.example/e/x/headers"})
    assert kept["headers"]["Dify-Hook-Url"] == "https://public.example/e/x/headers"


def test_response_headers_pass_through(emu):
    response = requests.get(emu.base_url + "/headers", timeout=HTTP_TIMEOUT)
    assert response.headers["X-Probe"] == "first"
    assert response.headers["Content-Type"] == "application/json"


def test_body_is_cut_at_10_mb(emu):
    body = b"a" * TEN_MB + b"b" * 1000
    response = requests.post(emu.base_url + "/echo_body", data=body, timeout=60)
    assert response.status_code == 200
    result = response.json()
    assert result["length"] == TEN_MB
    assert result["content_length"] == str(TEN_MB)


def test_chunked_request_body(emu):
    result = requests.post(emu.base_url + "/echo_body", data=iter([b"abc", b"defg"]), timeout=HTTP_TIMEOUT).json()
    assert result["length"] == 7 and result["content_length"] == "7"


def test_streaming_is_incremental(emu):
    started = time.monotonic()
    with requests.get(emu.base_url + "/stream?n=3&size=8&delay_ms=800", stream=True, timeout=HTTP_TIMEOUT) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        arrivals = [(time.monotonic() - started, chunk) for chunk in response.iter_content(chunk_size=None)]
    assert b"".join(c for _, c in arrivals) == b"".join(probe_chunks(3, 8))
    # The first chunk arrived long before the last one was even produced.
    assert arrivals[0][0] < 0.7
    assert arrivals[-1][0] >= 1.5


def test_concurrent_streams_get_their_own_data(emu):
    def fetch(i: int) -> bool:
        response = requests.get(f"{emu.base_url}/stream?n=40&size=12&delay_ms=5&tag=t{i}-", timeout=60)
        expected = b"".join(probe_chunks(40, 12, f"t{i}-"))
        return response.status_code == 200 and response.content == expected

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert all(pool.map(fetch, range(50)))


def test_session_error_before_headers_is_500_json(emu):
    # Header names with "_" make the SDK's request parser fail before the endpoint runs: a session error.
    response = requests.get(emu.base_url + "/headers", headers={"X_Bad": "1"}, timeout=HTTP_TIMEOUT)
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == -500
    assert "Invalid HTTP header" in body["message"]


def test_error_after_headers_ends_the_stream(emu):
    response = requests.get(emu.base_url + "/stream?n=5&size=8&fail_after=2", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    assert response.content == b"".join(probe_chunks(2, 8))


def test_timeout_appends_killed_by_timeout(emu):
    emu.max_execution_timeout = 1.0
    response = requests.get(emu.base_url + "/stream?n=3&size=8&delay_ms=1500", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    first = probe_chunks(1, 8)[0]
    assert response.content.startswith(first)
    tail = json.loads(response.content[len(first):])
    assert tail["code"] == -500 and "killed by timeout" in tail["message"]


def test_client_disconnect_does_not_hurt_others(emu):
    netloc = urlsplit(emu.server_url)
    for _ in range(3):
        sock = socket.create_connection((netloc.hostname, netloc.port), timeout=HTTP_TIMEOUT)
        sock.sendall(f"GET /e/{emu.hook_id}/stream?n=200&size=1000&delay_ms=10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.close()
    time.sleep(0.3)
    response = requests.get(emu.base_url + "/stream?n=3&size=8", timeout=HTTP_TIMEOUT)
    assert response.content == b"".join(probe_chunks(3, 8))


def test_head_and_keep_alive(emu):
    netloc = urlsplit(emu.server_url)
    conn = http.client.HTTPConnection(netloc.hostname, netloc.port, timeout=HTTP_TIMEOUT)
    for _ in range(3):
        conn.request("GET", f"/e/{emu.hook_id}/stream?n=2&size=4")
        assert conn.getresponse().read() == b"".join(probe_chunks(2, 4))
    conn.request("HEAD", f"/e/{emu.hook_id}/headers")
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    conn.request("GET", f"/e/{emu.hook_id}/stream?n=1&size=4")
    assert conn.getresponse().read() == probe_chunks(1, 4)[0]
    conn.close()


def test_plugin_crash_gives_502_and_restart_recovers(emu):
    old_pid = emu.plugin_pid
    response = requests.get(emu.base_url + "/die", timeout=HTTP_TIMEOUT)
    assert response.status_code == 502
    assert "exited" in response.json()["message"]
    assert requests.get(emu.base_url + "/headers", timeout=HTTP_TIMEOUT).status_code == 502
    emu.restart_plugin()
    assert emu.plugin_pid != old_pid
    assert requests.get(emu.base_url + "/headers", timeout=HTTP_TIMEOUT).status_code == 200
