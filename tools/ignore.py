"""`.difyignore` / `.gitignore` matching with git's semantics.

Supported: comments, blank lines, `dir/` (directories only), `*`, `?`, `[...]`, `**`, a leading or
inner `/` anchoring the pattern to the plugin root, `!` negation (the last matching pattern wins) and
`\\#` / `\\!` escapes. As in git, nothing inside an excluded directory can be re-included: the caller
prunes excluded directories instead of asking about their contents.

Note: the official `dify plugin package` (dify-plugin-daemon, `pkg/plugin_packager/decoder/fs.go`)
stops at the first pattern that excludes a path, so `!` lines have no effect there. This module follows
git, which is what a reader of the ignore file expects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Read in this order: the daemon falls back to .gitignore only when .difyignore is absent.
IGNORE_FILES = (".difyignore", ".gitignore")


@dataclass(frozen=True)
class IgnorePattern:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


class IgnoreRules:
    """An ordered list of ignore patterns for paths relative to the plugin root (with `/`)."""

    def __init__(self, patterns: list[IgnorePattern]) -> None:
        self._patterns = patterns

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        patterns = [_parse_line(line) for line in text.splitlines()]
        return cls([pattern for pattern in patterns if pattern is not None])

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        ignored = False
        for pattern in self._patterns:
            if pattern.dir_only and not is_dir:
                continue
            if pattern.regex.fullmatch(rel_path):
                ignored = not pattern.negated
        return ignored


def load_ignore_rules(plugin_dir: Path) -> tuple[str | None, IgnoreRules]:
    """Return the name of the ignore file in use (None if there is none) and its rules."""
    for name in IGNORE_FILES:
        path = plugin_dir / name
        if path.is_file():
            return name, IgnoreRules.parse(path.read_text(encoding="utf-8"))
    return None, IgnoreRules([])


def _parse_line(line: str) -> IgnorePattern | None:
    # The daemon trims both ends of every line; doing the same keeps CRLF files and stray spaces harmless.
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    dir_only = line.endswith("/")
    body = line.rstrip("/")
    if not body:
        return None
    # A slash anywhere but at the end anchors the pattern to the root; otherwise it matches at any depth.
    anchored = "/" in body
    regex = _glob_to_regex(body.lstrip("/"))
    if not anchored:
        regex = "(?:.*/)?" + regex
    return IgnorePattern(re.compile(regex, re.DOTALL), negated, dir_only)


def _glob_to_regex(glob: str) -> str:
    segments = glob.split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # `a/**` is everything inside a; `**/b` and `a/**/b` allow zero or more directories.
            parts.append(".*" if last else "(?:.*/)?")
        else:
            parts.append(_segment_to_regex(segment) + ("" if last else "/"))
    return "".join(parts)


def _segment_to_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = _class_end(segment, i)
            if end < 0:
                out.append(re.escape(char))
            else:
                out.append(_class_to_regex(segment[i + 1 : end]))
                i = end
        elif char == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    """Index of the `]` closing the class opened at `start`, or -1 (then `[` is a literal)."""
    i = start + 1
    if i < len(segment) and segment[i] in "!^":
        i += 1
    if i < len(segment) and segment[i] == "]":  # a `]` right after `[` or `[!` is a member
        i += 1
    return segment.find("]", i)


def _class_to_regex(body: str) -> str:
    negated = body[:1] in ("!", "^")
    members = body[1:] if negated else body
    # Escape what Python's `re` would read differently from a glob: `\`, `[` (nested sets) and a leading `]`.
    members = members.replace("\\", "\\\\").replace("[", "\\[")
    if members.startswith("]"):
        members = "\\" + members
    # A negated class must still never match the path separator.
    return f"[^/{members}]" if negated else f"[{members}]"
