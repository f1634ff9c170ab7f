"""The record of backwards invocations (`--record FILE`, `Emulator.records`)."""

import json
import threading
from pathlib import Path
from typing import Any


class Recorder:
    """Keeps every record in `entries` and appends it as one JSON line to `path` when one is given."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries.append(entry)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")
