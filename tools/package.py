"""Validate the plugin and build its `.difypkg`.

    python -m tools.package [--plugin-dir DIR] [--out-dir DIR] [--check]

Every problem found is printed to stderr as `<file>: <field path>: <what is wrong>` and the exit status
is 1. Otherwise the package `<out-dir>/<name>-<version>.difypkg` is written (default out-dir: `dist/`
under the plugin folder), its path printed to stdout and a summary to stderr. `--check` only validates.

The package is a ZIP of the plugin folder minus what `.difyignore` (else `.gitignore`) leaves out:
file entries only, deflated, sorted by path, with fixed timestamps and modes so that the same input
always gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import stat
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.checks_common import CheckContext, Problem, load_yaml_text
from tools.endpoint_checks import check_endpoint_group
from tools.ignore import IgnoreRules, load_ignore_rules
from tools.manifest_checks import MANIFEST, check_dependencies, check_manifest, check_readme

# The daemon's default limit on the uncompressed size of a package.
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
# The earliest time a ZIP entry can carry; any constant would do, this one is conventional.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = (stat.S_IFREG | 0o644) << 16  # a plain readable file, whatever the checkout's modes
ZIP_UNIX = 3  # "made by" system; fixed so that packages built on any OS are identical
ALWAYS_LEFT_OUT = ".git"
DEFAULT_PLUGIN_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PackageFile:
    rel: str  # path inside the package, with `/`
    path: Path
    size: int


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    plugin_dir = args.plugin_dir.resolve()
    if not plugin_dir.is_dir():
        print(f"{plugin_dir}: not a directory", file=sys.stderr)
        return 1
    out_dir = (args.out_dir or plugin_dir / "dist").resolve()
    ignore_file, rules = load_ignore_rules(plugin_dir)
    files = collect_files(plugin_dir, rules, out_dir)
    problems = validate_plugin(plugin_dir, files, ignore_file)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) found; no package written", file=sys.stderr)
        return 1
    if args.check:
        print(f"ok: {len(files)} files would be packaged", file=sys.stderr)
        return 0
    manifest = load_yaml_text((plugin_dir / MANIFEST).read_text(encoding="utf-8"))
    target = out_dir / f"{manifest['name']}-{manifest['version']}.difypkg"
    data = build_zip(files)
    _write_atomically(target, data)
    print(target)
    print(_summary(files, data), file=sys.stderr)
    return 0


def collect_files(plugin_dir: Path, rules: IgnoreRules, out_dir: Path) -> list[PackageFile]:
    """The files to package, sorted by path.

    `.git` and the output folder (when it lies inside the plugin) are always left out, so earlier builds
    never end up in the next one. Symbolic links to directories are not followed.
    """
    files = []
    for dirpath, dirnames, filenames in os.walk(plugin_dir):
        directory = Path(dirpath)
        # Pruning excluded directories in place also gives git's rule: nothing under them is re-included.
        dirnames[:] = [
            name
            for name in dirnames
            if name != ALWAYS_LEFT_OUT
            and directory / name != out_dir
            and not rules.is_ignored(_rel(plugin_dir, directory / name), is_dir=True)
        ]
        for name in filenames:
            path = directory / name
            rel = _rel(plugin_dir, path)
            if name != ALWAYS_LEFT_OUT and not rules.is_ignored(rel, is_dir=False):
                files.append(PackageFile(rel, path, path.stat().st_size))
    return sorted(files, key=lambda file: file.rel)


def validate_plugin(plugin_dir: Path, files: list[PackageFile], ignore_file: str | None) -> list[Problem]:
    ctx = CheckContext(plugin_dir, frozenset(file.rel for file in files), ignore_file)
    group = check_manifest(ctx)
    if group is not None:
        check_endpoint_group(ctx, group, (MANIFEST, "plugins.endpoints[0]"))
    check_dependencies(ctx)
    check_readme(ctx)
    return ctx.problems + _size_problems(files)


def build_zip(files: list[PackageFile]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            info = zipfile.ZipInfo(file.rel, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = ZIP_UNIX
            info.external_attr = ZIP_FILE_MODE
            archive.writestr(info, file.path.read_bytes())
    return buffer.getvalue()


def _size_problems(files: list[PackageFile]) -> list[Problem]:
    total = sum(file.size for file in files)
    if total <= MAX_UNCOMPRESSED_BYTES:
        return []
    largest = sorted(files, key=lambda file: file.size, reverse=True)[:5]
    listing = ", ".join(f"{file.rel} ({_mib(file.size)})" for file in largest)
    message = f"{_mib(total)} uncompressed exceeds the daemon's {_mib(MAX_UNCOMPRESSED_BYTES)} limit"
    return [Problem("(package)", "size", f"{message}; largest: {listing}")]


def _write_atomically(target: Path, data: bytes) -> None:
    # A half-written package must never sit under the final name.
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _summary(files: list[PackageFile], data: bytes) -> str:
    uncompressed = sum(file.size for file in files)
    return (
        f"packaged {len(files)} files: {uncompressed} bytes uncompressed, {len(data)} bytes compressed,"
        f" sha256 {hashlib.sha256(data).hexdigest()}"
    )


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description="Validate and package the plugin.")
    parser.add_argument(
        "--plugin-dir",
        type=Path,
        default=DEFAULT_PLUGIN_DIR,
        help="the plugin folder (default: the repository holding this tool)",
    )
    parser.add_argument("--out-dir", type=Path, help="where to write the package (default: <plugin-dir>/dist)")
    parser.add_argument("--check", action="store_true", help="only validate; write nothing")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
