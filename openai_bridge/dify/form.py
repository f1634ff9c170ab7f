"""What an app's input form declares, read from Dify's app parameters (`fetch_app`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InputVariable:
    name: str
    kind: str  # text-input, paragraph, select, number, file, file-list, ...
    required: bool = False
    label: str = ""
    # file and file-list variables only
    allowed_types: tuple[str, ...] = ()
    allowed_methods: tuple[str, ...] = ()
    max_files: int = 1
    max_length: int = 0  # text kinds: the longest value Dify accepts (0: no limit)


@dataclass(frozen=True)
class AppForm:
    variables: tuple[InputVariable, ...] = ()
    file_upload: Mapping[str, Any] = field(default_factory=dict)
    known: bool = True  # False when Dify could not tell us: then nothing is assumed about the form
    # Chat-type apps (chatbot, agent, chatflow) carry an opening statement, "" when unset; text generators and
    # workflows have none (None). The parameters never name the app's mode, so this is the only hint of it.
    conversational: bool | None = None

    def has(self, name: str) -> bool:
        return any(v.name == name for v in self.variables)

    def get(self, name: str) -> InputVariable | None:
        return next((v for v in self.variables if v.name == name), None)


UNKNOWN_FORM = AppForm(known=False)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def parse_app_form(parameters: Mapping[str, Any]) -> AppForm:
    """The form in `fetch_app`'s answer: the app's parameters themselves (the daemon strips Dify's wrappers)."""
    variables: list[InputVariable] = []
    for entry in parameters.get("user_input_form") or []:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            continue
        kind, spec = next(iter(entry.items()))
        if isinstance(spec, Mapping) and isinstance(spec.get("variable"), str):
            variables.append(InputVariable(
                spec["variable"], str(kind), bool(spec.get("required")), str(spec.get("label") or ""),
                tuple(str(t) for t in spec.get("allowed_file_types") or ()),
                tuple(str(m) for m in spec.get("allowed_file_upload_methods") or ()),
                _int(spec.get("max_length"), 5) if kind == "file-list" else 1,
                _int(spec.get("max_length"), 0) if kind in {"text-input", "paragraph"} else 0,
            ))
    declared = parameters.get("file_upload")
    file_upload: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
    conversational = isinstance(parameters["opening_statement"], str) if "opening_statement" in parameters else None
    return AppForm(tuple(variables), file_upload, conversational=conversational)


class AppFormCache:
    """Per-process cache of app forms: an app's form rarely changes, and a lost cache only costs one fetch."""

    def __init__(self, ttl_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, AppForm]] = {}
        self._lock = threading.Lock()

    def get(self, app_id: str, fetch: Callable[[str], Mapping[str, Any]]) -> AppForm:
        now = self._clock()
        with self._lock:
            hit = self._entries.get(app_id)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        try:
            form = parse_app_form(fetch(app_id))
        except Exception:  # noqa: BLE001 - an unknown form only means fewer conveniences, never a failed request
            return UNKNOWN_FORM
        with self._lock:
            self._entries[app_id] = (now, form)
        return form
