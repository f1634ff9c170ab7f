"""The core's key-value storage port for the gateway: one SQLite file by default, Redis for several replicas.

The core keeps conversation and response maps in it. Several gunicorn workers share the SQLite file (WAL: readers
never wait for the writer, and a writer waits its turn instead of failing); several gateway replicas behind a load
balancer share a Redis, so a conversation started on one continues on any other.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from gateway.config import GatewayConfig
from openai_bridge.ports import KeyValueStorage

REDIS_PREFIX = "openai-bridge:"


class SqliteStorage:
    """One file, opened lazily per process: a connection must not cross gunicorn's fork."""

    def __init__(self, path: str, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000, check_same_thread=False,
                                         isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")  # durable across a crashed process, as WAL keeps it
            connection.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def storage_get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db().execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def storage_set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._db().execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                               "value = excluded.value", (key, value))


class RedisStorage:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        import redis  # only a gateway configured for Redis needs the package

        self.url = url
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def storage_get(self, key: str) -> bytes | None:
        value = self._redis.get(REDIS_PREFIX + key)
        return bytes(value) if value is not None else None  # type: ignore[arg-type]

    def storage_set(self, key: str, value: bytes) -> None:
        self._redis.set(REDIS_PREFIX + key, value)


def open_storage(config: GatewayConfig) -> KeyValueStorage:
    return RedisStorage(config.redis_url) if config.redis_url else SqliteStorage(config.sqlite_path)
