"""Fuzz targets report how many requests they generated and what came back (`make fuzz` prints the full figures)."""

from __future__ import annotations

from .oracle import STATS


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest's hook signature
    if not STATS:
        return
    by_target: dict[str, int] = {}
    for outcome, count in STATS.items():
        target = outcome.split(":")[0]
        by_target[target] = by_target.get(target, 0) + count
    terminalreporter.section("fuzz outcomes")
    for target, total in sorted(by_target.items()):
        terminalreporter.write_line(f"{target}: {total} generated requests answered acceptably")
    for outcome, count in sorted(STATS.items(), key=lambda item: (item[0].split(":")[0], -item[1])):
        terminalreporter.write_line(f"  {count:6d}  {outcome}")
