"""Components some tests need beyond Python packages (Node.js, a Redis server): present, or skipped with a reason.

In CI (`CI=true`) a missing component fails its tests instead: a silent skip there would hide that the check never
ran. `make test` installs what it can.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(available: bool, what: str) -> None:
    """Skip (fail in CI) the calling test when `what` is not available."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} is missing, and CI must run every check", pytrace=False)
    pytest.skip(f"{what} is missing")
