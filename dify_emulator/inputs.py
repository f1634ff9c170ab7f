"""An app's inputs, checked the way Dify's `_prepare_user_inputs` checks them, on every invocation.

Only declared variables are kept, each validated; file variables become Dify files (`DifyFile`). A `tool_file`
must be one the plugin uploaded; a `remote_url` fails as it failed on the recorded Dify, which had no network
access: HTTP 400 "Reached maximum retries (3) for URL ...", unless the scenario lists the URL as reachable
(`reachable_urls`, prefixes), which plays a Dify that could fetch it. Other transfer methods pass through unchecked.
"""

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import app_failure, invalid_param

STRING_INPUT_TYPES = ("text-input", "paragraph", "select")
FILE_ATTRIBUTES = {"name": "filename", "extension": "extension", "mime_type": "mime_type", "size": "size",
                   "type": "type", "transfer_method": "transfer_method", "related_id": "related_id"}


class ToolFiles(Protocol):
    """Where an app run finds the tool files the plugin uploaded (the emulator's UploadStore)."""

    def get(self, file_id: str) -> dict[str, Any] | None: ...

    def signed_url(self, file: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class DifyFile:
    """A file input as a Dify run holds it; `dump()` is how events show it (its URL is signed anew each time)."""

    type: str
    transfer_method: str
    related_id: str
    filename: str
    extension: str
    mime_type: str
    size: int
    url: Callable[[], str]

    def dump(self) -> dict[str, Any]:
        reference = base64.b64encode(json.dumps({"record_id": self.related_id}, separators=(",", ":")).encode())
        return {
            "dify_model_identity": "__dify__file__",
            "id": None,
            "type": self.type,
            "transfer_method": self.transfer_method,
            "remote_url": None,
            "reference": "dify-file-ref:" + reference.decode(),
            "filename": self.filename,
            "extension": self.extension,
            "mime_type": self.mime_type,
            "size": self.size,
            "related_id": self.related_id,
            "url": self.url(),
        }

    def attribute(self, name: str) -> tuple[bool, Any]:
        """(found, value) of `{{#start.file.<name>#}}`; `url` is signed like the dump's."""
        if name == "url":
            return True, self.url()
        field_name = FILE_ATTRIBUTES.get(name)
        return (True, getattr(self, field_name)) if field_name else (False, None)

    @property
    def markdown(self) -> str:
        prefix = "!" if self.type == "image" else ""
        return f"{prefix}[{self.filename}]({self.url()})"


def dump_value(value: Any) -> Any:
    """A run value as events show it: files dumped, containers walked."""
    if isinstance(value, DifyFile):
        return value.dump()
    if isinstance(value, Mapping):
        return {key: dump_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [dump_value(item) for item in value]
    return value


def files_in(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The files among a node's outputs, dumped: Dify lists them in node_finished.files."""
    found: list[DifyFile] = []
    for value in values.values():
        items = value if isinstance(value, list | tuple) else [value]
        found.extend(item for item in items if isinstance(item, DifyFile))
    return [file.dump() for file in found]


def declared_variables(parameters: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, variable, config) of each input variable the app's form declares."""
    declared = []
    for item in parameters.get("user_input_form") or []:
        for kind, config in item.items():
            if isinstance(config, Mapping) and config.get("variable"):
                declared.append((kind, config["variable"], dict(config)))
    return declared


@dataclass(frozen=True)
class FileSources:
    """Where file mappings point: the plugin's tool files, the Service API's uploads (None on the plugin path,
    where a local_file passes unchecked), and the URL prefixes a remote file may have."""

    tool_files: ToolFiles
    uploads: ToolFiles | None = None
    reachable: tuple[str, ...] = ()


def validate_inputs(parameters: Mapping[str, Any], inputs: Mapping[str, Any], files: ToolFiles,
                    reachable: tuple[str, ...] = (), uploads: ToolFiles | None = None) -> dict[str, Any]:
    """Dify's `_prepare_user_inputs`: declared variables only, each validated; no form keeps everything.

    Keeping undeclared inputs when nothing is declared is an emulator convenience (Dify would drop them):
    it lets `{"app": {"mode": "workflow"}}` echo whatever inputs it gets.
    """
    declared = declared_variables(parameters)
    if not declared:
        return dict(inputs)
    sources = FileSources(files, uploads, reachable)
    return {variable: _validated(kind, variable, config, inputs.get(variable), sources)
            for kind, variable, config in declared}


def _validated(kind: str, variable: str, config: Mapping[str, Any], value: Any, sources: FileSources) -> Any:
    if value is None or value == "":
        if config.get("required"):
            raise app_failure(invalid_param(f"{variable} is required in input form"))
        return config.get("default")
    if kind in STRING_INPUT_TYPES:
        return _validated_string(kind, variable, config, value)
    if kind == "number" and not _is_number(value):
        raise app_failure(invalid_param(f"{variable} in input form must be a valid number"))
    if kind == "file":
        if not isinstance(value, Mapping):
            raise app_failure(invalid_param(f"{variable} in input form must be a file"))
        return build_file(value, sources)
    if kind == "file-list":
        if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
            raise app_failure(invalid_param(f"{variable} in input form must be a list of files"))
        return [build_file(item, sources) for item in value]
    return value


def _validated_string(kind: str, variable: str, config: Mapping[str, Any], value: Any) -> str:
    if not isinstance(value, str):
        raise app_failure(invalid_param(f"{variable} in input form must be a string"))
    value = value.replace("\x00", "")
    max_length = config.get("max_length")
    if kind != "select" and max_length and len(value) > max_length:
        raise app_failure(invalid_param(f"{variable} in input form must be less than {max_length} characters"))
    options = config.get("options") or []
    if kind == "select" and value not in options:
        raise app_failure(invalid_param(f"{variable} in input form must be one of the following: {options}"))
    return value


def build_file(mapping: Mapping[str, Any], sources: FileSources) -> Any:
    """A file mapping as a run holds it (Dify's `file_factory.build_from_mapping`, without the config check)."""
    method = mapping.get("transfer_method")
    if method == "remote_url":
        url = str(mapping.get("url") or mapping.get("remote_url"))
        if not url.startswith(sources.reachable) or not sources.reachable:
            raise app_failure(invalid_param(f"Reached maximum retries (3) for URL {url}"))
        return dict(mapping)
    if method == "local_file" and sources.uploads is not None:
        store, file_id = sources.uploads, str(mapping.get("upload_file_id"))
        missing = "Invalid upload file"
    elif method == "tool_file":
        store, file_id = sources.tool_files, str(mapping.get("tool_file_id"))
        missing = f"ToolFile {file_id} not found"
    else:
        return dict(mapping)
    found = store.get(file_id)
    if found is None:
        raise app_failure(invalid_param(missing))
    return DifyFile(
        type=str(mapping.get("type") or "custom"),
        transfer_method=method,
        related_id=found["id"],
        filename=found["name"],
        extension=found["extension"],
        mime_type=found["mimetype"],
        size=found["size"],
        url=lambda: store.signed_url(found),
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
