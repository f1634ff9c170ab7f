"""Tests of `python -m tools.package`: validation, .difyignore handling and the package layout.

Fixture plugins are small valid endpoint plugins written to tmp dirs; each rejection test breaks one
thing and expects the message `<file>: <field path>: ...` naming it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not put the cwd on sys.path
    sys.path.insert(0, str(REPO_ROOT))

from tools import package  # noqa: E402
from tools.endpoint_checks import werkzeug_rule_error  # noqa: E402
from tools.ignore import IgnoreRules  # noqa: E402

MANIFEST: dict[str, Any] = {
    "version": "0.1.0",
    "type": "plugin",
    "author": "fixture-author",
    "name": "fixture_plugin",
    "label": {"en_US": "Fixture"},
    "description": {"en_US": "A minimal endpoint plugin."},
    "icon": "icon.svg",
    "created_at": "2026-01-31T00:00:00Z",
    "resource": {
        "memory": 268435456,
        "permission": {
            "endpoint": {"enabled": True},
            "app": {"enabled": True},
            "storage": {"enabled": True, "size": 1048576},
        },
    },
    "plugins": {"endpoints": ["provider/group.yaml"]},
    "meta": {
        "version": "0.0.1",
        "arch": ["amd64", "arm64"],
        "runner": {"language": "python", "version": "3.12", "entrypoint": "main"},
        "minimum_dify_version": "1.0.0",
    },
    "privacy": "PRIVACY.md",
}
GROUP: dict[str, Any] = {
    "settings": [
        {"name": "api_key", "type": "secret-input", "required": True, "label": {"en_US": "API key"}},
        {"name": "app", "type": "app-selector", "scope": "chat&workflow", "label": {"en_US": "App"}},
        {
            "name": "mode",
            "type": "select",
            "default": "a",
            "label": {"en_US": "Mode"},
            "options": [{"value": "a", "label": {"en_US": "A"}}, {"value": "b", "label": {"en_US": "B"}}],
        },
        {"name": "debug", "type": "boolean", "default": False, "label": {"en_US": "Debug"}},
    ],
    "endpoints": ["endpoints/ping.yaml"],
}
PING = {"path": "/ping/<item_id>", "method": "GET", "extra": {"python": {"source": "endpoints/ping.py"}}}
ENDPOINT_MODULE = "from dify_plugin import Endpoint\n\n\nclass Ping(Endpoint):\n    pass\n"
FILES: dict[str, str] = {
    "manifest.yaml": yaml.safe_dump(MANIFEST, sort_keys=False),
    "provider/group.yaml": yaml.safe_dump(GROUP, sort_keys=False),
    "endpoints/ping.yaml": yaml.safe_dump(PING, sort_keys=False),
    "endpoints/ping.py": ENDPOINT_MODULE,
    "_assets/icon.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "main.py": "from dify_plugin import DifyPluginEnv, Plugin\n\nPlugin(DifyPluginEnv()).run()\n",
    "requirements.txt": "# runtime\ndify_plugin>=0.10.2,<0.11\n",
    "README.md": "# Fixture\n",
    "PRIVACY.md": "This plugin stores nothing.\n",
    ".difyignore": "tests/\n__pycache__/\n",
}
PACKAGED_FIXTURE_FILES = sorted(FILES)

Mutation = Callable[[Path], None]
Capture = pytest.CaptureFixture[str]


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    return write_files(tmp_path / "plugin", FILES)


def run(capsys: Capture, *argv: object) -> tuple[int, str, str]:
    code = package.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def build(capsys: Capture, plugin_dir: Path, out_dir: Path) -> Path:
    code, out, err = run(capsys, "--plugin-dir", plugin_dir, "--out-dir", out_dir)
    assert code == 0, err
    return Path(out.strip())


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


# Mutations that break a valid fixture plugin in one place.


def edit(rel: str, change: Callable[[Any], object]) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    return mutate


def write(rel: str, content: str) -> Mutation:
    return lambda root: write_files(root, {rel: content})


def delete(rel: str) -> Mutation:
    return lambda root: (root / rel).unlink()


def setting(index: int, **changes: object) -> Mutation:
    return edit("provider/group.yaml", lambda group: group["settings"][index].update(changes))


# ---------------------------------------------------------------- a valid plugin


def test_valid_plugin_passes_the_check_and_writes_nothing(plugin: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "--plugin-dir", plugin, "--check")
    assert (code, out) == (0, "")
    assert err.startswith("ok: ")
    assert not (plugin / "dist").exists()


def test_valid_plugin_is_packaged_under_dist_by_default(plugin: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "--plugin-dir", plugin)
    assert code == 0, err
    target = plugin / "dist" / "fixture_plugin-0.1.0.difypkg"
    assert out == f"{target}\n"
    assert target.is_file()
    assert f"packaged {len(PACKAGED_FIXTURE_FILES)} files" in err and "sha256 " in err
    # A second build must not swallow the first one, although .difyignore does not mention dist/.
    assert build(capsys, plugin, plugin / "dist") == target
    assert zip_names(target) == PACKAGED_FIXTURE_FILES


def test_zip_holds_sorted_deflated_file_entries_only(plugin: Path, tmp_path: Path, capsys: Capture) -> None:
    extra = {"endpoints/Z.txt": "z", "endpoints/a/b/c.txt": "c", "tests/test_x.py": "", "x/__pycache__/m.pyc": ""}
    write_files(plugin, extra)
    with zipfile.ZipFile(build(capsys, plugin, tmp_path / "out")) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(PACKAGED_FIXTURE_FILES + ["endpoints/Z.txt", "endpoints/a/b/c.txt"])
    assert not any(name.endswith("/") or "\\" in name for name in names)
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_build_is_reproducible(plugin: Path, tmp_path: Path, capsys: Capture) -> None:
    first = build(capsys, plugin, tmp_path / "one").read_bytes()
    for path in plugin.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))  # other timestamps...
    (plugin / "main.py").chmod(0o755)  # ...and modes must not change a byte
    assert build(capsys, plugin, tmp_path / "two").read_bytes() == first


# ---------------------------------------------------------------- .difyignore


IGNORE_TEXT = """\
# comments and blank lines are skipped

*.log
!keep.log
docs/*
!docs/keep.md
/only_root.txt
build/
**/cache/*.bin
tests/
!tests/keep.py
data/**/secret.txt
"""
KEPT = ["keep.log", "docs/keep.md", "sub/only_root.txt", "notes/build", "a/cache/z.txt", "data/public.txt"]
LEFT_OUT = [
    "app.log",
    "sub/deep.log",
    "docs/a.md",
    "only_root.txt",
    "build/x.txt",
    "src/build/y.txt",
    "a/b/cache/x.bin",
    "cache/y.bin",
    "tests/keep.py",  # as in git, a file under an excluded directory cannot be re-included
    "data/secret.txt",
    "data/x/y/secret.txt",
    ".git/config",  # always left out
]


def test_difyignore_patterns_decide_the_content(plugin: Path, tmp_path: Path, capsys: Capture) -> None:
    write_files(plugin, {".difyignore": IGNORE_TEXT} | dict.fromkeys(KEPT + LEFT_OUT, "x"))
    names = set(zip_names(build(capsys, plugin, tmp_path / "out")))
    assert set(KEPT) <= names
    assert not set(LEFT_OUT) & names


def test_gitignore_is_used_when_there_is_no_difyignore(plugin: Path, tmp_path: Path, capsys: Capture) -> None:
    (plugin / ".difyignore").unlink()
    write_files(plugin, {".gitignore": "*.tmp\n", "scratch.tmp": "x", "tests/test_a.py": "x"})
    names = zip_names(build(capsys, plugin, tmp_path / "out"))
    assert "scratch.tmp" not in names
    assert "tests/test_a.py" in names and ".gitignore" in names


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.py[co]", "a/b.pyc", False, True),
        ("*.py[co]", "a/b.py", False, False),
        ("[!a]bc", "xbc", False, True),
        ("[!a]bc", "abc", False, False),
        ("file?.txt", "file1.txt", False, True),
        ("file?.txt", "file10.txt", False, False),
        ("*", "a/b/c", False, True),
        ("a/*.md", "a/b/c.md", False, False),  # `*` does not cross `/`
        ("a/**", "a", True, False),  # only what is inside a
        ("a/**", "a/b/c", False, True),
        ("a/**/b", "a/b", True, True),
        ("**/b", "x/y/b", False, True),
        ("venv/", "venv", False, False),  # directory patterns skip files
        ("venv/", "x/venv", True, True),
        ("/venv", "x/venv", True, False),
        ("\\#hash", "#hash", False, True),
        ("\\!bang", "!bang", False, True),
        ("  spaced.txt  \r", "spaced.txt", False, True),
    ],
)
def test_ignore_pattern(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules.parse(pattern).is_ignored(path, is_dir) is ignored


def test_package_larger_than_50_mib_is_refused(plugin: Path, tmp_path: Path, capsys: Capture) -> None:
    with (plugin / "blob.bin").open("wb") as blob:
        blob.truncate(50 * 1024 * 1024 + 1)  # sparse: costs no disk and no time
    code, _, err = run(capsys, "--plugin-dir", plugin, "--out-dir", tmp_path / "out")
    assert code == 1
    assert "(package): size: 50.0 MiB uncompressed exceeds the daemon's 50.0 MiB limit; largest: blob.bin" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(author="OpenAI")),
            "manifest.yaml: author: must match ^[a-z0-9_-]{1,64}$ (got 'OpenAI')",
            id="upper-case author",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(author="dify-fan")),
            "manifest.yaml: author: must not contain 'dify'",
            id="reserved author",
        ),
        pytest.param(
            delete("_assets/icon.svg"), "manifest.yaml: icon: _assets/icon.svg does not exist", id="missing icon"
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(icon_dark="dark.svg")),
            "manifest.yaml: icon_dark: _assets/dark.svg does not exist",
            id="missing dark icon",
        ),
        pytest.param(
            write(".difyignore", "_assets/\n"),
            "manifest.yaml: icon: _assets/icon.svg is left out of the package by .difyignore",
            id="icon ignored",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(version="1.0")),
            "manifest.yaml: version: must be a version x.y.z such as 0.1.0 (got '1.0')",
            id="bad version",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["meta"].update(version="1")),
            "manifest.yaml: meta.version: must be a version x.y.z",
            id="bad meta version",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(name="Fixture Plugin")),
            "manifest.yaml: name: must match ^[a-z0-9_-]{1,128}$",
            id="bad name",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(type="bundle")),
            "manifest.yaml: type: must be 'plugin'",
            id="bad type",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(label={"zh_Hans": "x"})),
            "manifest.yaml: label.en_US: is required",
            id="label without en_US",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m.update(created_at="31/01/2026")),
            "manifest.yaml: created_at: must be an RFC 3339 time",
            id="bad created_at",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["resource"].update(memory="256M")),
            "manifest.yaml: resource.memory: must be a positive whole number of bytes",
            id="memory not bytes",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["resource"]["permission"].update(endpoint={"enabled": False})),
            "manifest.yaml: resource.permission.endpoint.enabled: must be true",
            id="endpoint permission off",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["resource"]["permission"]["storage"].update(size=100)),
            "manifest.yaml: resource.permission.storage.size: must be a whole number of bytes in 1024..1073741824",
            id="storage too small",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["resource"]["permission"].update(app=True)),
            "manifest.yaml: resource.permission.app: must be a mapping",
            id="app permission shape",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["resource"]["permission"].update(app={"enabled": "yes"})),
            "manifest.yaml: resource.permission.app.enabled: must be true or false",
            id="app permission flag",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["plugins"]["endpoints"].append("provider/other.yaml")),
            "manifest.yaml: plugins.endpoints: must list exactly one endpoint group file",
            id="two groups",
        ),
        pytest.param(
            delete("provider/group.yaml"),
            "manifest.yaml: plugins.endpoints[0]: provider/group.yaml does not exist",
            id="missing group",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["meta"].update(arch=["amd64", "x86"])),
            "manifest.yaml: meta.arch: must be a non-empty list drawn from amd64, arm64",
            id="bad arch",
        ),
        pytest.param(
            edit("manifest.yaml", lambda m: m["meta"]["runner"].update(version=3.12)),
            "manifest.yaml: meta.runner.version: must be the text '3.12': quote it",
            id="unquoted python version",
        ),
        pytest.param(
            delete("main.py"),
            "manifest.yaml: meta.runner.entrypoint: main.py does not exist",
            id="missing entry point",
        ),
        pytest.param(
            delete("PRIVACY.md"), "manifest.yaml: privacy: PRIVACY.md does not exist", id="missing privacy file"
        ),
        pytest.param(write("PRIVACY.md", "\n"), "manifest.yaml: privacy: PRIVACY.md is empty", id="empty privacy file"),
        pytest.param(
            edit("manifest.yaml", lambda m: m.pop("privacy")),
            "manifest.yaml: privacy: is required",
            id="no privacy field",
        ),
        pytest.param(
            write("manifest.yaml", FILES["manifest.yaml"] + "name: again\n"),
            "manifest.yaml: (file): is not valid YAML: while constructing a mapping",
            id="duplicate key",
        ),
        pytest.param(delete("README.md"), "README.md: (file): does not exist", id="missing README"),
        pytest.param(delete("requirements.txt"), "requirements.txt: (file): does not exist", id="no requirements"),
        pytest.param(
            write("requirements.txt", "# dify_plugin\ndify-plugin-extras\n"),
            "requirements.txt: (file): must require dify_plugin",
            id="requirements without dify_plugin",
        ),
        pytest.param(
            write("pyproject.toml", '[project]\nname = "x"\ndependencies = ["httpx"]\n'),
            "pyproject.toml: project.dependencies: must require dify_plugin",
            id="pyproject without dify_plugin",
        ),
        pytest.param(
            setting(0, type="number"),
            "provider/group.yaml: settings[0].type: must be one of secret-input, text-input, select, boolean,"
            " model-selector, app-selector, array[tools] (got 'number')",
            id="bad setting type",
        ),
        pytest.param(
            setting(1, name="api_key"),
            "provider/group.yaml: settings[1].name: 'api_key' is already used by settings[0]",
            id="duplicate setting name",
        ),
        pytest.param(
            setting(0, name="api-key"), "provider/group.yaml: settings[0].name: must be an identifier", id="bad name"
        ),
        pytest.param(
            setting(0, label={"zh_Hans": "x"}),
            "provider/group.yaml: settings[0].label.en_US: is required",
            id="setting label",
        ),
        pytest.param(
            setting(2, options=[]), "provider/group.yaml: settings[2].options: a select needs", id="no options"
        ),
        pytest.param(
            setting(2, options=[{"value": "a"}]),
            "provider/group.yaml: settings[2].options[0].label: must be a mapping",
            id="option without label",
        ),
        pytest.param(
            setting(1, scope="agent"),
            "provider/group.yaml: settings[1].scope: must be one of all|chat|workflow|completion",
            id="bad app scope",
        ),
        pytest.param(
            setting(0, scope="all"),
            "provider/group.yaml: settings[0].scope: is only allowed on app-selector and model-selector",
            id="scope on text",
        ),
        pytest.param(
            setting(3, default="yes"),
            "provider/group.yaml: settings[3].default: must be true or false",
            id="bool default",
        ),
        pytest.param(
            setting(2, default="c"),
            "provider/group.yaml: settings[2].default: must be one of the option values",
            id="select default",
        ),
        pytest.param(
            setting(1, default="app-id"),
            "provider/group.yaml: settings[1].default: must be omitted",
            id="selector default",
        ),
        pytest.param(
            edit(
                "provider/group.yaml",
                lambda g: g.update(
                    settings=[{"name": f"s{i}", "type": "text-input", "label": {"en_US": "s"}} for i in range(65)]
                ),
            ),
            "provider/group.yaml: settings: has 65 entries; the daemon accepts at most 64",
            id="too many settings",
        ),
        pytest.param(
            edit("provider/group.yaml", lambda g: g.update(endpoints=["endpoints/nope.yaml"])),
            "provider/group.yaml: endpoints[0]: endpoints/nope.yaml does not exist",
            id="missing endpoint file",
        ),
        pytest.param(
            edit("endpoints/ping.yaml", lambda e: e.update(method="PATCH")),
            "endpoints/ping.yaml: method: must be one of HEAD, GET, POST, PUT, DELETE, OPTIONS (got 'PATCH')",
            id="PATCH",
        ),
        pytest.param(
            edit("endpoints/ping.yaml", lambda e: e.update(path="ping")),
            "endpoints/ping.yaml: path: must start with '/' (got 'ping')",
            id="relative path",
        ),
        pytest.param(
            edit("endpoints/ping.yaml", lambda e: e.update(path="/items/<slug:item>")),
            "endpoints/ping.yaml: path: uses unknown converter 'slug'",
            id="unknown converter",
        ),
        pytest.param(
            edit("endpoints/ping.yaml", lambda e: e.update(path="/items/<item")),
            "endpoints/ping.yaml: path: is not a valid werkzeug rule",
            id="malformed rule",
        ),
        pytest.param(
            edit("endpoints/ping.yaml", lambda e: e.update(hidden="yes")),
            "endpoints/ping.yaml: hidden: must be true or false",
            id="hidden not bool",
        ),
        pytest.param(
            edit("endpoints/ping.yaml", lambda e: e.update(extra={"python": {"source": "endpoints/nope.py"}})),
            "endpoints/ping.yaml: extra.python.source: endpoints/nope.py does not exist",
            id="missing source",
        ),
        pytest.param(
            write("endpoints/ping.py", ENDPOINT_MODULE + "\n\nclass Pong(Endpoint):\n    pass\n"),
            "endpoints/ping.yaml: extra.python.source:"
            " endpoints/ping.py has 2 Endpoint subclasses (Ping, Pong)",
            id="two Endpoint subclasses",
        ),
        pytest.param(
            write(
                "endpoints/ping.py",
                "import dify_plugin\n\n\nclass Ping(dify_plugin.Endpoint):\n    pass\n\n\n"
                "class Pong(Ping):\n    pass\n",
            ),
            "endpoints/ping.py has 2 Endpoint subclasses (Ping, Pong)",
            id="indirect subclass",
        ),
        pytest.param(
            lambda root: write_files(
                root,
                {
                    "endpoints/shared.py": (
                        "from dify_plugin import Endpoint as Base\n\n\nclass Shared(Base):\n    pass\n"
                    ),
                    "endpoints/ping.py": "from .shared import Shared\n" + ENDPOINT_MODULE,
                },
            ),
            "endpoints/ping.py has 2 Endpoint subclasses (Shared, Ping)",
            id="imported subclass",
        ),
        pytest.param(
            write("endpoints/ping.py", "class Ping:\n    pass\n"),
            "endpoints/ping.yaml: extra.python.source: endpoints/ping.py defines no Endpoint subclass",
            id="no Endpoint subclass",
        ),
        pytest.param(
            write("endpoints/ping.py", "class Ping(Endpoint:\n"),
            "endpoints/ping.yaml: extra.python.source: cannot parse endpoints/ping.py",
            id="syntax error",
        ),
        pytest.param(
            lambda root: (
                write("endpoints/pong.yaml", yaml.safe_dump(PING | {"path": "/ping/<string:other>"}))(root),
                edit("provider/group.yaml", lambda g: g["endpoints"].append("endpoints/pong.yaml"))(root),
            ),
            "endpoints/pong.yaml: path: GET /ping/<string:other> is already declared by endpoints/ping.yaml",
            id="duplicate route",
        ),
    ],
)
def test_check_rejects(plugin: Path, capsys: Capture, mutation: Mutation, expected: str) -> None:
    mutation(plugin)
    code, out, err = run(capsys, "--plugin-dir", plugin, "--check")
    assert (code, out) == (1, "")
    assert expected in err


def test_every_problem_is_reported_and_nothing_is_written(plugin: Path, capsys: Capture) -> None:
    edit("manifest.yaml", lambda m: m.update(author="OpenAI"))(plugin)
    edit("endpoints/ping.yaml", lambda e: e.update(method="PATCH"))(plugin)
    delete("PRIVACY.md")(plugin)
    code, _, err = run(capsys, "--plugin-dir", plugin)
    assert code == 1
    assert err.splitlines() == [
        "manifest.yaml: author: must match ^[a-z0-9_-]{1,64}$ (got 'OpenAI')",
        "manifest.yaml: privacy: PRIVACY.md does not exist",
        "endpoints/ping.yaml: method: must be one of HEAD, GET, POST, PUT, DELETE, OPTIONS (got 'PATCH')",
        "3 problem(s) found; no package written",
    ]
    assert not (plugin / "dist").exists()


@pytest.mark.parametrize(
    "rule",
    [
        "/",
        "/models",
        "/v1/models/<model_id>",
        "/<path:rest>",
        "/a/<int:n>/<float:x>/<uuid:u>/<string(length=2):s>",
        "/a/<any(x, y):choice>",
        "/a>b",
        "models",
        "/a/<slug:x>",
        "/a/<x",
        "/a/<1x>",
        "/a/<>",
    ],
)
def test_rule_check_agrees_with_werkzeug(rule: str) -> None:
    from werkzeug.routing import Map, Rule

    try:
        Map([Rule(rule)])
    except (ValueError, LookupError):
        accepted = False
    else:
        accepted = True
    assert (werkzeug_rule_error(rule) is None) is accepted


def test_runs_as_a_module(plugin: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.package", "--plugin-dir", str(plugin), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the real plugin


def test_the_repository_packages_the_plugin_and_nothing_else(tmp_path: Path, capsys: Capture) -> None:
    names = zip_names(build(capsys, REPO_ROOT, tmp_path))
    for required in ("manifest.yaml", "main.py", "requirements.txt", "README.md", "PRIVACY.md"):
        assert required in names
    for folder in ("provider/", "endpoints/", "_assets/", "openai_bridge/"):
        assert any(name.startswith(folder) for name in names), folder
    for folder in ("tests/", "dify_emulator/", "tools/", ".venv/", "dist/", ".git/"):
        assert not any(name.startswith(folder) for name in names), folder
    for part in ("__pycache__", ".pytest_cache"):
        assert not any(part in name.split("/") for name in names), part
