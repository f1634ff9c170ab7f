"""Plumbing shared by the plugin checks: problem records, YAML loading and file references."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

# The "field path" of a problem that concerns a whole file rather than one of its fields.
WHOLE_FILE = "(file)"

# Keys of an i18n object the daemon keeps (pkg/entities/plugin_entities/basic_type.go); others are dropped.
I18N_KEYS = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
I18N_MAX_CHARS = 1023  # basic_type.go: `lt=1024`


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class _PluginYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as text and refuses duplicate keys.

    The daemon parses these files with Go's yaml.v3, which rejects a repeated mapping key that PyYAML
    would silently overwrite. Keeping `created_at` as text lets us check it is RFC 3339, the format
    Go's time.Time accepts, whether or not the author quoted it.
    """


_PluginYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_unique_mapping(loader: _PluginYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<` merges may legitimately be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_PluginYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml_text(text: str) -> Any:
    return yaml.load(text, Loader=_PluginYamlLoader)  # safe: the loader derives from SafeLoader


def is_int(value: object) -> bool:
    # YAML `true` is a Python bool, which is also an int; the validators never accept it as a number.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class CheckContext:
    """What every check needs: the plugin folder, the files that will be packaged, and the problem list."""

    plugin_dir: Path
    packaged: frozenset[str]
    ignore_file: str | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, field_path: str, message: str) -> None:
        self.problems.append(Problem(file, field_path, message))

    def load_yaml(self, rel: str, referrer: tuple[str, str] | None = None) -> Any:
        """Load a plugin YAML file; report it (to the referring field, if any) and return None when unusable."""
        path = self.plugin_dir / rel
        if not path.is_file():
            file, field_path = referrer or (rel, WHOLE_FILE)
            self.add(file, field_path, f"{_subject(file, rel)}does not exist")
            return None
        self.check_packaged(rel, referrer)
        try:
            return load_yaml_text(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            self.add(rel, WHOLE_FILE, f"is not valid YAML: {_one_line(error)}")
            return None

    def reference(self, file: str, field_path: str, value: object) -> str | None:
        """Validate a path written in a plugin file; return it normalised, or None after reporting it."""
        if not isinstance(value, str) or not value.strip():
            self.add(file, field_path, f"must be a relative file path (got {value!r})")
            return None
        path = PurePosixPath(value)
        if "\\" in value or path.is_absolute() or ".." in path.parts:
            self.add(file, field_path, f"must be a relative path inside the plugin, with '/' (got {value!r})")
            return None
        return path.as_posix()

    def require_file(self, file: str, field_path: str, rel: str, non_empty: bool = False) -> Path | None:
        """Check that a referenced file exists (optionally with content) and will be packaged."""
        path = self.plugin_dir / rel
        subject = _subject(file, rel)
        if not path.is_file():
            self.add(file, field_path, f"{subject}does not exist")
            return None
        if non_empty and not path.read_bytes().strip():
            self.add(file, field_path, f"{subject}is empty")
        self.check_packaged(rel, (file, field_path))
        return path

    def check_packaged(self, rel: str, referrer: tuple[str, str] | None = None) -> None:
        # An ignore pattern that drops a referenced file yields a package the daemon cannot install.
        if rel not in self.packaged:
            file, field_path = referrer or (rel, WHOLE_FILE)
            dropped_by = self.ignore_file or "the packager"
            self.add(file, field_path, f"{_subject(file, rel)}is left out of the package by {dropped_by}")

    def check_i18n(self, file: str, field_path: str, value: object, required: bool = True) -> None:
        """An i18n object: a mapping with a non-empty en_US; every translation a string under 1024 chars."""
        if value is None and not required:
            return
        if not isinstance(value, dict):
            self.add(file, field_path, f"must be a mapping of language to text with en_US (got {value!r})")
            return
        en_us = value.get("en_US")
        if not isinstance(en_us, str) or not en_us.strip():
            self.add(file, f"{field_path}.en_US", f"is required and must be non-empty text (got {en_us!r})")
        for key in I18N_KEYS:
            text = value.get(key)
            if isinstance(text, str):
                if len(text) > I18N_MAX_CHARS:
                    self.add(file, f"{field_path}.{key}", f"must be at most {I18N_MAX_CHARS} characters")
            elif text is not None and key != "en_US":  # a bad en_US is already reported above
                self.add(file, f"{field_path}.{key}", f"must be text (got {text!r})")


def _subject(file: str, rel: str) -> str:
    """Name the file in a message unless the message is already filed under it."""
    return "" if file == rel else f"{rel} "


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
