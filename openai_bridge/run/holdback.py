"""How much of a streamed text's tail must be held back because it may be the start of a marker."""

from __future__ import annotations

from collections.abc import Iterable


def partial_marker_length(text: str, markers: Iterable[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of one of `markers`."""
    longest = 0
    for marker in markers:
        if len(marker) < 2 or marker[0] not in text[1 - len(marker):]:
            continue  # such a suffix starts with the marker's first character: most deltas have none near their end
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest
