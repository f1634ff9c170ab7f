"""State the core keeps (conversation and response maps), shared where a gateway runs more than one process."""

from __future__ import annotations

import multiprocessing

from gateway.storage import RedisStorage, SqliteStorage

from .fake_service_api import FakeApp, recorded_events, recorded_parameters
from .redis_server import redis_server

COUNTER = recorded_parameters("d_counter")


def _write_many(path: str, worker: int, count: int) -> None:
    storage = SqliteStorage(path)
    for n in range(count):
        storage.storage_set(f"w{worker}-{n}", f"{worker}:{n}".encode())
        storage.storage_set("shared", f"{worker}:{n}".encode())


def test_sqlite_is_shared_by_worker_processes(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, w, 200)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0]  # no "database is locked" in any worker
    storage = SqliteStorage(path)
    assert all(storage.storage_get(f"w{w}-199") == f"{w}:199".encode() for w in range(3))
    assert storage.storage_get("shared") in {f"{w}:199".encode() for w in range(3)}
    assert storage.storage_get("absent") is None


def test_redis_storage_round_trips():
    with redis_server() as url:
        storage = RedisStorage(url)
        assert storage.storage_get("k") is None
        storage.storage_set("k", b"\x00value")
        storage.storage_set("k", b"newer")
        assert RedisStorage(url).storage_get("k") == b"newer"


def test_a_conversation_started_on_one_replica_continues_on_another(gateway):
    with redis_server() as url:
        # Two replicas: each its own process state (form cache, connections, SQLite file), one Redis.
        first, second = (gateway({"app-d": FakeApp("advanced-chat", COUNTER, recorded_events(
            "d_conversation_3turns_stream.call1.jsonl"))}, models={"counter": "app-d"}, storage=RedisStorage(url))
            for _ in range(2))
        messages = [{"role": "user", "content": "one"}]
        status, body = first.post("/v1/chat/completions", {"model": "counter", "messages": messages})
        assert status == 200
        answer = body["choices"][0]["message"]["content"]
        conversation = recorded_events("d_conversation_3turns_stream.call1.jsonl")[0]["conversation_id"]
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "two"}]
        status, _ = second.post("/v1/chat/completions", {"model": "counter", "messages": messages})
        assert status == 200
        sent = second.fake.calls("/chat-messages")[-1]["body"]
        assert sent["conversation_id"] == conversation and sent["query"] == "two"
