"""What the emulator needs from the plugin's manifest: permissions, storage size, app-selector settings."""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The daemon's PERSISTENCE_STORAGE_MAX_SIZE default, used when the manifest declares no storage size.
DEFAULT_STORAGE_SIZE = 100 * 1024 * 1024


@dataclass(frozen=True)
class PluginManifest:
    app_enabled: bool = False
    storage_enabled: bool = False
    storage_size: int = DEFAULT_STORAGE_SIZE
    app_selector_settings: frozenset[str] = field(default_factory=frozenset)


def read_manifest(plugin_dir: Path) -> PluginManifest:
    """Read manifest.yaml and its endpoint group YAML; a missing or odd file gives the defaults.

    The plugin itself refuses to start with a broken manifest, and that failure is reported then.
    """
    try:
        manifest = yaml.safe_load((plugin_dir / "manifest.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return PluginManifest()
    permission = (manifest.get("resource") or {}).get("permission") or {}
    app = permission.get("app") or {}
    storage = permission.get("storage") or {}
    return PluginManifest(
        app_enabled=bool(app.get("enabled")),
        storage_enabled=bool(storage.get("enabled")),
        storage_size=int(storage.get("size") or DEFAULT_STORAGE_SIZE),
        app_selector_settings=frozenset(_app_selector_settings(plugin_dir, manifest)),
    )


def _app_selector_settings(plugin_dir: Path, manifest: dict) -> set[str]:
    names: set[str] = set()
    for group_file in (manifest.get("plugins") or {}).get("endpoints") or []:
        try:
            group = yaml.safe_load((plugin_dir / group_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        names.update(s["name"] for s in group.get("settings") or [] if s.get("type") == "app-selector")
    return names
