"""Checks of manifest.yaml and of the files it and the runtime rely on (icons, entry point, privacy policy,
README, dependency list).

Each rule is the intersection of the three validators a manifest meets: the SDK (`PluginConfiguration`
in dify_plugin), the daemon (`pkg/entities/plugin_entities/plugin_declaration.go`) and Dify's API.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from typing import Any

from tools.checks_common import WHOLE_FILE, CheckContext, is_int

MANIFEST = "manifest.yaml"
REQUIREMENTS = "requirements.txt"
PYPROJECT = "pyproject.toml"
README = "README.md"

# The daemon allows `-suffix` and the SDK anything PEP 440 parses; plain x.y.z satisfies both.
VERSION_RE = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
# The daemon's AuthorRegex; Dify's API also accepts upper case, the daemon does not.
AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
RESERVED_AUTHOR_WORDS = ("dify", "langgenius")  # refused by the marketplace
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
# Dify's API parses it with packaging.Version; dotted numbers are always accepted.
MIN_DIFY_VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
DIFY_PLUGIN_REQUIREMENT_RE = re.compile(r"^dify[-_.]plugin\s*([\[(<>=!~;@]|$)", re.IGNORECASE)

ARCHES = ("amd64", "arm64")
PYTHON_VERSION = "3.12"
PATH_MAX_CHARS = 128  # daemon: icon and plugins.* entries are `max=128`
STORAGE_MIN_BYTES, STORAGE_MAX_BYTES = 1024, 1024**3
# The permission blocks and their flags the daemon and the SDK know (plugin_declaration.go, setup.py).
PERMISSION_FLAGS: dict[str, tuple[str, ...]] = {
    "tool": ("enabled",),
    "model": ("enabled", "llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"),
    "node": ("enabled",),
    "endpoint": ("enabled",),
    "app": ("enabled",),
    "storage": ("enabled", "size"),
}
# daemon ManifestValidate: endpoints may not be combined with these extension kinds.
EXCLUSIVE_EXTENSIONS = ("models", "agent_strategies", "datasources", "triggers")
# daemon pkg/entities/manifest_entities/tags.go
TAGS = frozenset(
    "search image videos weather finance design travel social news medical productivity education business"
    " entertainment utilities agent rag other trigger".split()
)


def check_manifest(ctx: CheckContext) -> str | None:
    """Check manifest.yaml; return the endpoint group file to check next, or None if there is none to check."""
    manifest = ctx.load_yaml(MANIFEST)
    if manifest is None:
        return None
    if not isinstance(manifest, dict):
        ctx.add(MANIFEST, WHOLE_FILE, "must be a mapping")
        return None
    _check_identity(ctx, manifest)
    _check_created_at(ctx, manifest.get("created_at"))
    _check_icons(ctx, manifest)
    _check_tags(ctx, manifest.get("tags"))
    plugins = manifest.get("plugins")
    group = _check_plugins(ctx, plugins)
    has_endpoints = isinstance(plugins, dict) and bool(plugins.get("endpoints"))
    _check_resource(ctx, manifest.get("resource"), has_endpoints)
    _check_meta(ctx, manifest.get("meta"))
    _check_privacy(ctx, manifest.get("privacy"))
    return group


def check_readme(ctx: CheckContext) -> None:
    ctx.require_file(README, WHOLE_FILE, README, non_empty=True)


def check_dependencies(ctx: CheckContext) -> None:
    # The daemon installs pyproject.toml when there is one and requirements.txt otherwise.
    if (ctx.plugin_dir / PYPROJECT).is_file():
        _check_pyproject(ctx)
    else:
        _check_requirements(ctx)


def _check_identity(ctx: CheckContext, manifest: dict[str, Any]) -> None:
    _check_version(ctx, "version", manifest.get("version"))
    if manifest.get("type") != "plugin":
        ctx.add(MANIFEST, "type", f"must be 'plugin' (got {manifest.get('type')!r})")
    author = manifest.get("author")
    if not isinstance(author, str) or not AUTHOR_RE.fullmatch(author):
        ctx.add(MANIFEST, "author", f"must match {AUTHOR_RE.pattern} (got {author!r})")
    else:
        for word in RESERVED_AUTHOR_WORDS:
            if word in author:
                ctx.add(MANIFEST, "author", f"must not contain {word!r}: the marketplace reserves it (got {author!r})")
    name = manifest.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        ctx.add(MANIFEST, "name", f"must match {NAME_RE.pattern} (got {name!r})")
    ctx.check_i18n(MANIFEST, "label", manifest.get("label"))
    ctx.check_i18n(MANIFEST, "description", manifest.get("description"))
    repo = manifest.get("repo")
    if repo is not None and not (isinstance(repo, str) and re.match(r"^https?://\S+$", repo)):
        ctx.add(MANIFEST, "repo", f"must be an http(s) URL (got {repo!r})")


def _check_version(ctx: CheckContext, field_path: str, version: object) -> None:
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        ctx.add(MANIFEST, field_path, f"must be a version x.y.z such as 0.1.0 (got {version!r})")


def _check_created_at(ctx: CheckContext, created_at: object) -> None:
    problem = f"must be an RFC 3339 time such as 2026-01-31T00:00:00Z (got {created_at!r})"
    if not isinstance(created_at, str) or not RFC3339_RE.fullmatch(created_at):
        ctx.add(MANIFEST, "created_at", problem)
        return
    try:
        datetime.fromisoformat(created_at)
    except ValueError:  # well-formed but impossible, e.g. month 13
        ctx.add(MANIFEST, "created_at", problem)


def _check_icons(ctx: CheckContext, manifest: dict[str, Any]) -> None:
    for key in ("icon", "icon_dark"):
        if key == "icon_dark" and manifest.get(key) is None:
            continue
        icon = ctx.reference(MANIFEST, key, manifest.get(key))
        if icon is None:
            continue
        if len(icon) > PATH_MAX_CHARS:
            ctx.add(MANIFEST, key, f"must be at most {PATH_MAX_CHARS} characters")
        # The daemon looks icons up among the packaged files under _assets/ (decoder CheckAssetsValid).
        ctx.require_file(MANIFEST, key, f"_assets/{icon}")


def _check_tags(ctx: CheckContext, tags: object) -> None:
    if tags is None:
        return
    if not isinstance(tags, list):
        ctx.add(MANIFEST, "tags", f"must be a list (got {tags!r})")
        return
    for index, tag in enumerate(tags):
        if tag not in TAGS:
            ctx.add(MANIFEST, f"tags[{index}]", f"must be one of {', '.join(sorted(TAGS))} (got {tag!r})")


def _check_plugins(ctx: CheckContext, plugins: object) -> str | None:
    if not isinstance(plugins, dict):
        ctx.add(MANIFEST, "plugins", f"must be a mapping with an endpoints list (got {plugins!r})")
        return None
    for key in EXCLUSIVE_EXTENSIONS:
        if plugins.get(key):
            ctx.add(MANIFEST, f"plugins.{key}", "must be empty: the daemon refuses it next to endpoints")
    groups = plugins.get("endpoints")
    if not isinstance(groups, list) or len(groups) != 1:
        # The daemon keeps only the last group, so a second one would silently replace the first.
        ctx.add(MANIFEST, "plugins.endpoints", f"must list exactly one endpoint group file (got {groups!r})")
        return None
    group = ctx.reference(MANIFEST, "plugins.endpoints[0]", groups[0])
    if group is not None and len(group) > PATH_MAX_CHARS:
        ctx.add(MANIFEST, "plugins.endpoints[0]", f"must be at most {PATH_MAX_CHARS} characters")
    return group


def _check_resource(ctx: CheckContext, resource: object, has_endpoints: bool) -> None:
    if not isinstance(resource, dict):
        ctx.add(MANIFEST, "resource", f"must be a mapping with memory and permission (got {resource!r})")
        return
    memory = resource.get("memory")
    if not is_int(memory) or memory <= 0:
        ctx.add(MANIFEST, "resource.memory", f"must be a positive whole number of bytes (got {memory!r})")
    _check_permissions(ctx, resource.get("permission"), has_endpoints)


def _check_permissions(ctx: CheckContext, permission: object, has_endpoints: bool) -> None:
    field_path = "resource.permission"
    if permission is None:
        permission = {}
    if not isinstance(permission, dict):
        ctx.add(MANIFEST, field_path, f"must be a mapping (got {permission!r})")
        return
    for kind, block in permission.items():
        _check_permission_block(ctx, f"{field_path}.{kind}", kind, block)
    storage = permission.get("storage")
    if isinstance(storage, dict):
        _check_storage_size(ctx, storage.get("size"))
    endpoint = permission.get("endpoint")
    if has_endpoints and not (isinstance(endpoint, dict) and endpoint.get("enabled") is True):
        ctx.add(MANIFEST, f"{field_path}.endpoint.enabled", "must be true: Dify creates no endpoints without it")


def _check_permission_block(ctx: CheckContext, field_path: str, kind: str, block: object) -> None:
    flags = PERMISSION_FLAGS.get(kind)
    if flags is None:
        ctx.add(MANIFEST, field_path, f"is not a permission (known: {', '.join(PERMISSION_FLAGS)})")
        return
    if block is None:
        return
    if not isinstance(block, dict):
        ctx.add(MANIFEST, field_path, f"must be a mapping such as {{enabled: true}} (got {block!r})")
        return
    for flag, value in block.items():
        if flag not in flags:
            ctx.add(MANIFEST, f"{field_path}.{flag}", f"is not a flag of this permission (known: {', '.join(flags)})")
        elif flag != "size" and not isinstance(value, bool):
            ctx.add(MANIFEST, f"{field_path}.{flag}", f"must be true or false (got {value!r})")


def _check_storage_size(ctx: CheckContext, size: object) -> None:
    # The daemon range-checks size whenever the storage block exists, enabled or not; missing means 0.
    if not is_int(size) or not STORAGE_MIN_BYTES <= size <= STORAGE_MAX_BYTES:
        ctx.add(
            MANIFEST,
            "resource.permission.storage.size",
            f"must be a whole number of bytes in {STORAGE_MIN_BYTES}..{STORAGE_MAX_BYTES} (1 KiB..1 GiB)"
            f" (got {size!r})",
        )


def _check_meta(ctx: CheckContext, meta: object) -> None:
    if not isinstance(meta, dict):
        ctx.add(MANIFEST, "meta", f"must be a mapping with version, arch and runner (got {meta!r})")
        return
    _check_version(ctx, "meta.version", meta.get("version"))
    arch = meta.get("arch")
    if not isinstance(arch, list) or not arch or any(item not in ARCHES for item in arch):
        ctx.add(MANIFEST, "meta.arch", f"must be a non-empty list drawn from {', '.join(ARCHES)} (got {arch!r})")
    _check_runner(ctx, meta.get("runner"))
    minimum = meta.get("minimum_dify_version")
    if minimum is not None and not (isinstance(minimum, str) and MIN_DIFY_VERSION_RE.fullmatch(minimum)):
        ctx.add(MANIFEST, "meta.minimum_dify_version", f"must be a version such as 1.0.0 (got {minimum!r})")


def _check_runner(ctx: CheckContext, runner: object) -> None:
    if not isinstance(runner, dict):
        ctx.add(MANIFEST, "meta.runner", f"must be a mapping with language, version and entrypoint (got {runner!r})")
        return
    if runner.get("language") != "python":
        ctx.add(MANIFEST, "meta.runner.language", f"must be 'python' (got {runner.get('language')!r})")
    version = runner.get("version")
    if version != PYTHON_VERSION:
        hint = ": quote it, YAML reads a bare 3.12 as a number" if version == float(PYTHON_VERSION) else ""
        ctx.add(MANIFEST, "meta.runner.version", f"must be the text {PYTHON_VERSION!r}{hint} (got {version!r})")
    entrypoint = runner.get("entrypoint")
    if not isinstance(entrypoint, str) or not MODULE_RE.fullmatch(entrypoint) or entrypoint.endswith(".py"):
        message = f"must be a module name such as 'main', without .py (got {entrypoint!r})"
        ctx.add(MANIFEST, "meta.runner.entrypoint", message)
    else:
        # The daemon starts the plugin with `python -m <entrypoint>` from the plugin root.
        ctx.require_file(MANIFEST, "meta.runner.entrypoint", entrypoint.replace(".", "/") + ".py")


def _check_privacy(ctx: CheckContext, privacy: object) -> None:
    if privacy is None:
        ctx.add(MANIFEST, "privacy", "is required: the marketplace needs a privacy policy file such as PRIVACY.md")
        return
    rel = ctx.reference(MANIFEST, "privacy", privacy)
    if rel is not None:
        ctx.require_file(MANIFEST, "privacy", rel, non_empty=True)


def _check_requirements(ctx: CheckContext) -> None:
    path = ctx.require_file(REQUIREMENTS, WHOLE_FILE, REQUIREMENTS)
    if path is None:
        return
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    if not any(DIFY_PLUGIN_REQUIREMENT_RE.match(line) for line in lines):
        ctx.add(REQUIREMENTS, WHOLE_FILE, "must require dify_plugin, e.g. dify_plugin>=0.10.2,<0.11")


def _check_pyproject(ctx: CheckContext) -> None:
    path = ctx.require_file(PYPROJECT, WHOLE_FILE, PYPROJECT)
    if path is None:
        return
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project")
    except tomllib.TOMLDecodeError as error:
        ctx.add(PYPROJECT, WHOLE_FILE, f"is not valid TOML: {error}")
        return
    dependencies = project.get("dependencies") if isinstance(project, dict) else None
    if not isinstance(dependencies, list) or not any(
        isinstance(item, str) and DIFY_PLUGIN_REQUIREMENT_RE.match(item.strip()) for item in dependencies
    ):
        ctx.add(
            PYPROJECT,
            "project.dependencies",
            "must require dify_plugin: the daemon installs pyproject.toml in preference to requirements.txt",
        )
