"""Checks of the endpoint group YAML, the endpoint YAMLs it lists and the Python modules those load.

Sources: the daemon's `pkg/entities/plugin_entities/config.go` (settings) and `endpoint_declaration.go`
(methods), the SDK's `ProviderConfig`, `EndpointConfiguration` and `PluginRegistration._resolve_endpoints`
(werkzeug rules, one Endpoint subclass per module).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.checks_common import WHOLE_FILE, CheckContext

SETTING_TYPES = (
    "secret-input",
    "text-input",
    "select",
    "boolean",
    "model-selector",
    "app-selector",
    "array[tools]",
)
TEXT_SETTING_TYPES = ("secret-input", "text-input", "select")
MAX_SETTINGS = 64  # daemon ValidateProviderConfigs: "too many setting fields"
SETTING_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_OPTIONS = 127  # config.go: options `lt=128`, option value `lt=128`
OPTION_VALUE_MAX_CHARS = 127
# config.go: `scope` is only valid on these types; a value may join several scopes with `&`.
SCOPES = {
    "app-selector": ("all", "chat", "workflow", "completion"),
    "model-selector": (
        "llm",
        "text-embedding",
        "rerank",
        "tts",
        "speech2text",
        "moderation",
        "vision",
        "document",
        "tool-call",
    ),
}
METHODS = ("HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS")  # endpoint_declaration.go: no PATCH
SOURCE_FIELD = "extra.python.source"

# werkzeug's rule grammar: `/`, static text, or `<converter(args):variable>` with optional converter.
_RULE_PART_RE = re.compile(
    r"""
    (?P<slash>/)
  | (?P<static>[^</]+)
  | <(?:(?P<converter>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<variable>[A-Za-z_][A-Za-z0-9_]*)>
    """,
    re.VERBOSE,
)
WERKZEUG_CONVERTERS = ("default", "string", "any", "path", "int", "float", "uuid")


@dataclass(frozen=True)
class Route:
    """One endpoint YAML; parts that failed their checks are None."""

    file: str
    path: str | None
    method: str | None
    source: str | None


class SourceError(Exception):
    """A module that cannot be analysed."""


def check_endpoint_group(ctx: CheckContext, group: str, referrer: tuple[str, str]) -> None:
    data = ctx.load_yaml(group, referrer)
    if data is None:
        return
    if not isinstance(data, dict):
        ctx.add(group, WHOLE_FILE, "must be a mapping with settings and endpoints")
        return
    _check_settings(ctx, group, data.get("settings"))
    files = data.get("endpoints")
    if not isinstance(files, list) or not files:
        ctx.add(group, "endpoints", f"must be a non-empty list of endpoint YAML files (got {files!r})")
        return
    routes = [_check_endpoint(ctx, group, f"endpoints[{index}]", entry) for index, entry in enumerate(files)]
    _check_duplicate_routes(ctx, [route for route in routes if route is not None])
    _check_sources(ctx, [route for route in routes if route is not None])


def werkzeug_rule_error(rule: str) -> str | None:
    """Why werkzeug would refuse `rule` as a URL rule, or None if it accepts it."""
    if not rule.startswith("/"):
        return "must start with '/'"
    parts, rest = _rule_parts(rule)
    if rest:
        return f"is not a valid werkzeug rule: cannot parse {rest!r}"
    for part in parts:
        converter = part.group("converter")
        if converter is not None and converter not in WERKZEUG_CONVERTERS:
            return f"uses unknown converter {converter!r} (werkzeug has {', '.join(WERKZEUG_CONVERTERS)})"
    return None


def _rule_parts(rule: str) -> tuple[list[re.Match[str]], str]:
    """Split a rule into werkzeug's parts; also return the text that could not be parsed ('' if none)."""
    parts = []
    position = 0
    while position < len(rule):
        part = _RULE_PART_RE.match(rule, position)
        if part is None:
            return parts, rule[position:]
        parts.append(part)
        position = part.end()
    return parts, ""


def _check_settings(ctx: CheckContext, group: str, settings: object) -> None:
    if settings is None:
        return
    if not isinstance(settings, list):
        ctx.add(group, "settings", f"must be a list (got {settings!r})")
        return
    if len(settings) > MAX_SETTINGS:
        ctx.add(group, "settings", f"has {len(settings)} entries; the daemon accepts at most {MAX_SETTINGS}")
    first_use: dict[str, str] = {}
    for index, setting in enumerate(settings):
        field_path = f"settings[{index}]"
        if not isinstance(setting, dict):
            ctx.add(group, field_path, f"must be a mapping (got {setting!r})")
            continue
        _check_setting_name(ctx, group, field_path, setting.get("name"), first_use)
        _check_setting(ctx, group, field_path, setting)


def _check_setting_name(
    ctx: CheckContext, group: str, field_path: str, name: object, first_use: dict[str, str]
) -> None:
    if not isinstance(name, str) or not SETTING_NAME_RE.fullmatch(name):
        ctx.add(group, f"{field_path}.name", f"must be an identifier such as api_key (got {name!r})")
    elif name in first_use:
        ctx.add(group, f"{field_path}.name", f"{name!r} is already used by {first_use[name]}")
    else:
        first_use[name] = field_path


def _check_setting(ctx: CheckContext, group: str, field_path: str, setting: dict[str, Any]) -> None:
    kind = setting.get("type")
    if kind not in SETTING_TYPES:
        ctx.add(group, f"{field_path}.type", f"must be one of {', '.join(SETTING_TYPES)} (got {kind!r})")
    ctx.check_i18n(group, f"{field_path}.label", setting.get("label"))
    for key in ("help", "placeholder"):
        ctx.check_i18n(group, f"{field_path}.{key}", setting.get(key), required=False)
    for key in ("required", "multiple"):
        if key in setting and not isinstance(setting[key], bool):
            ctx.add(group, f"{field_path}.{key}", f"must be true or false (got {setting[key]!r})")
    values = _check_options(ctx, group, field_path, setting.get("options")) if kind == "select" else []
    _check_scope(ctx, group, field_path, kind, setting.get("scope"))
    _check_default(ctx, group, field_path, kind, setting.get("default"), values)


def _check_options(ctx: CheckContext, group: str, field_path: str, options: object) -> list[str]:
    """Check a select's options; return their values."""
    if not isinstance(options, list) or not options:
        ctx.add(group, f"{field_path}.options", f"a select needs a non-empty list of options (got {options!r})")
        return []
    if len(options) > MAX_OPTIONS:
        ctx.add(group, f"{field_path}.options", f"has {len(options)} entries; the daemon accepts at most {MAX_OPTIONS}")
    values = []
    for index, option in enumerate(options):
        option_path = f"{field_path}.options[{index}]"
        if not isinstance(option, dict):
            ctx.add(group, option_path, f"must be a mapping with value and label (got {option!r})")
            continue
        value = option.get("value")
        if not isinstance(value, str) or not value or len(value) > OPTION_VALUE_MAX_CHARS:
            limit = f"1..{OPTION_VALUE_MAX_CHARS}"
            ctx.add(group, f"{option_path}.value", f"must be text of {limit} characters (got {value!r})")
        else:
            values.append(value)
        ctx.check_i18n(group, f"{option_path}.label", option.get("label"))
    return values


def _check_scope(ctx: CheckContext, group: str, field_path: str, kind: object, scope: object) -> None:
    if scope is None:
        return
    allowed = SCOPES.get(kind) if isinstance(kind, str) else None
    if allowed is None:
        ctx.add(group, f"{field_path}.scope", f"is only allowed on {' and '.join(SCOPES)} settings")
    elif not isinstance(scope, str) or any(part.strip() not in allowed for part in scope.split("&")):
        choices = "|".join(allowed)
        ctx.add(group, f"{field_path}.scope", f"must be one of {choices} or several joined by & (got {scope!r})")


def _check_default(
    ctx: CheckContext, group: str, field_path: str, kind: object, default: object, values: list[str]
) -> None:
    # At runtime the daemon type-checks stored values (ValidateProviderConfigs), defaults included.
    if default is None or kind not in SETTING_TYPES:
        return
    field_path = f"{field_path}.default"
    if kind == "boolean":
        if not isinstance(default, bool):
            ctx.add(group, field_path, f"must be true or false for a boolean (got {default!r})")
    elif kind in TEXT_SETTING_TYPES:
        if not isinstance(default, str):
            ctx.add(group, field_path, f"must be text for a {kind} (got {default!r}); quote it")
        elif kind == "select" and values and default not in values:
            ctx.add(group, field_path, f"must be one of the option values {values} (got {default!r})")
    else:
        # Selectors hold mappings, while the daemon only accepts a scalar default (is_basic_type).
        ctx.add(group, field_path, f"must be omitted for a {kind}")


def _check_endpoint(ctx: CheckContext, group: str, field_path: str, entry: object) -> Route | None:
    if isinstance(entry, dict):
        ctx.add(group, field_path, "must be the path of an endpoint YAML file (inline declarations are not supported)")
        return None
    file = ctx.reference(group, field_path, entry)
    if file is None:
        return None
    data = ctx.load_yaml(file, (group, field_path))
    if data is None:
        return None
    if not isinstance(data, dict):
        ctx.add(file, WHOLE_FILE, f"must be a mapping with path, method and {SOURCE_FIELD}")
        return None
    path = data.get("path")
    if isinstance(path, str):
        rule_error = werkzeug_rule_error(path)
    else:
        rule_error = "must be a werkzeug rule such as /models/<model_id>"
    if rule_error is not None:
        ctx.add(file, "path", f"{rule_error} (got {path!r})")
    method = data.get("method")
    if method not in METHODS:
        ctx.add(file, "method", f"must be one of {', '.join(METHODS)} (got {method!r})")
    if "hidden" in data and not isinstance(data["hidden"], bool):
        ctx.add(file, "hidden", f"must be true or false (got {data['hidden']!r})")
    return Route(
        file=file,
        path=path if rule_error is None else None,
        method=method if method in METHODS else None,
        source=_check_source(ctx, file, data.get("extra")),
    )


def _check_source(ctx: CheckContext, file: str, extra: object) -> str | None:
    python = extra.get("python") if isinstance(extra, dict) else None
    source = ctx.reference(file, SOURCE_FIELD, python.get("source") if isinstance(python, dict) else None)
    if source is None:
        return None
    if not source.endswith(".py"):
        ctx.add(file, SOURCE_FIELD, f"must name a .py file (got {source!r})")
        return None
    return source if ctx.require_file(file, SOURCE_FIELD, source) else None


def _check_duplicate_routes(ctx: CheckContext, routes: list[Route]) -> None:
    first: dict[tuple[str, str], Route] = {}
    for route in routes:
        if route.path is None or route.method is None:
            continue
        key = (_route_shape(route.path), route.method)
        if key in first:
            ctx.add(route.file, "path", f"{route.method} {route.path} is already declared by {first[key].file}")
        else:
            first[key] = route


def _route_shape(rule: str) -> str:
    """The rule without variable names: `/m/<a>` and `/m/<string:b>` match the same requests."""
    shape = []
    for part in _rule_parts(rule)[0]:
        if part.group("variable") is None:
            shape.append(part.group(0))
            continue
        converter = part.group("converter") or "default"
        converter = "default" if converter == "string" else converter  # werkzeug aliases the two
        shape.append(f"<{converter}({part.group('args') or ''})>")
    return "".join(shape)


def _check_sources(ctx: CheckContext, routes: list[Route]) -> None:
    finder = EndpointClassFinder(ctx.plugin_dir)
    checked: set[str] = set()
    for route in routes:
        if route.source is None or route.source in checked:
            continue  # several endpoint YAMLs may share a module: report it once
        checked.add(route.source)
        try:
            names = finder.subclasses(ctx.plugin_dir / route.source)
        except SourceError as error:
            ctx.add(route.file, SOURCE_FIELD, str(error))
            continue
        if not names:
            ctx.add(route.file, SOURCE_FIELD, f"{route.source} defines no Endpoint subclass")
        elif len(names) > 1:
            ctx.add(
                route.file,
                SOURCE_FIELD,
                f"{route.source} has {len(names)} Endpoint subclasses ({', '.join(names)}), imported ones"
                " included; the SDK loads a module only if it holds exactly one",
            )


class EndpointClassFinder:
    """Names that a module binds to Endpoint subclasses, found with `ast` (the module is never run).

    The SDK takes every Endpoint subclass in the module's namespace (`vars(module)`), so a subclass
    imported from another local module counts like one defined in the file. Imports of local modules
    (relative, or absolute from the plugin root, which is the runtime's working directory) are followed.
    """

    def __init__(self, plugin_dir: Path) -> None:
        self._root = plugin_dir.resolve()
        self._cache: dict[Path, list[str]] = {}

    def subclasses(self, module: Path) -> list[str]:
        module = module.resolve()
        if module in self._cache:
            return self._cache[module]
        self._cache[module] = []  # an import cycle then sees an empty module instead of recursing forever
        rel = module.relative_to(self._root).as_posix()
        try:
            tree = ast.parse(module.read_bytes(), filename=rel)
        except (SyntaxError, ValueError) as error:
            raise SourceError(f"cannot parse {rel}: {error}") from error
        bound: dict[str, None] = {}  # an ordered set: one namespace entry per name
        base_names = {"Endpoint"}
        for statement in _module_level(tree.body):
            if isinstance(statement, ast.ImportFrom):
                self._bind_import(statement, module, bound, base_names)
            elif isinstance(statement, ast.ClassDef) and any(
                _is_endpoint_base(base, bound, base_names) for base in statement.bases
            ):
                bound[statement.name] = None
        self._cache[module] = list(bound)
        return self._cache[module]

    def _bind_import(
        self, statement: ast.ImportFrom, importer: Path, bound: dict[str, None], base_names: set[str]
    ) -> None:
        local = self._local_module(statement, importer)
        if local is None:
            # `from dify_plugin import Endpoint as Base` makes `Base` the class to look for.
            base_names.update(alias.asname or alias.name for alias in statement.names if alias.name == "Endpoint")
            return
        exported = self.subclasses(local)
        for alias in statement.names:
            if alias.name == "*":
                bound.update(dict.fromkeys(name for name in exported if not name.startswith("_")))
            elif alias.name in exported:
                bound[alias.asname or alias.name] = None

    def _local_module(self, statement: ast.ImportFrom, importer: Path) -> Path | None:
        base = self._root
        if statement.level:
            base = importer.parent
            for _ in range(statement.level - 1):
                base = base.parent
        parts = statement.module.split(".") if statement.module else []
        target = base.joinpath(*parts)
        candidates = [target.with_suffix(".py")] if parts else []
        candidates.append(target / "__init__.py")
        for candidate in candidates:
            if candidate.is_file() and candidate.resolve().is_relative_to(self._root):
                return candidate
        return None


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import time, including those inside module-level if/try/with blocks."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If | ast.With | ast.Try | ast.TryStar):
            nested = [*statement.body, *getattr(statement, "orelse", []), *getattr(statement, "finalbody", [])]
            for handler in getattr(statement, "handlers", []):
                nested.extend(handler.body)
            yield from _module_level(nested)


def _is_endpoint_base(base: ast.expr, bound: dict[str, None], base_names: set[str]) -> bool:
    if isinstance(base, ast.Name):
        return base.id in base_names or base.id in bound
    # `dify_plugin.Endpoint`, `interfaces.endpoint.Endpoint`, ...
    return isinstance(base, ast.Attribute) and base.attr == "Endpoint"
