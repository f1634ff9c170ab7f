"""`python -m dify_emulator serve`: one URL line on stdout, clean stop on SIGTERM, clear failures."""

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from .conftest import HTTP_TIMEOUT, PROBE_DIR, REPO_ROOT

STARTUP_TIMEOUT = 60


def serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dify_emulator", "serve", "--port", "0", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_line(proc: subprocess.Popen[str], timeout: float = STARTUP_TIMEOUT) -> str:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        proc.kill()
        raise AssertionError("the emulator printed nothing in time")
    return proc.stdout.readline()


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid`, read from /proc (the 4th field of /proc/<pid>/stat is the parent)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out, err


def test_serve_prints_one_url_and_stops_on_sigterm(tmp_path: Path):
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"hook_id": "cli", "app": {"mode": "workflow"}}))
    record = tmp_path / "record.jsonl"
    proc = serve("--plugin-dir", str(PROBE_DIR), "--scenario", str(scenario), "--record", str(record),
                 "--set", "memory_mode=conversation", "--set", "app_id=app-cli", "--set", "flag=true")
    try:
        url = first_line(proc).rstrip("\n")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/e/cli")
        settings = requests.get(url + "/settings", timeout=HTTP_TIMEOUT).json()
        assert settings["memory_mode"] == "conversation" and settings["flag"] is True
        assert settings["app_id"]["app_id"] == "app-cli"
        events = requests.post(url + "/app", json={"inputs": {"x": "y"}}, timeout=HTTP_TIMEOUT).text.splitlines()
        assert json.loads(events[0])["event"] == "workflow_started"
    finally:
        code, out, err = stop(proc)
    assert code == 0
    assert out == ""  # the URL line was the only output
    assert "POST /e/cli/app -> 200" in err
    assert [json.loads(line)["type"] for line in record.read_text().splitlines()] == ["app"]


def test_plugin_is_stopped_with_the_emulator():
    proc = serve("--plugin-dir", str(PROBE_DIR))
    try:
        url = first_line(proc).rstrip("\n")
        assert requests.get(url + "/headers", timeout=HTTP_TIMEOUT).status_code == 200
        children = children_of(proc.pid)
        assert children, "the plugin should run as a child of the emulator"
    finally:
        code, _, _ = stop(proc)
    assert code == 0
    time.sleep(0.5)
    for pid in children:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_broken_plugin_dir_fails_clearly(tmp_path: Path):
    (tmp_path / "main.py").write_text(
        "import sys\nprint('cannot start: broken on purpose', file=sys.stderr)\nsys.exit(3)\n")
    proc = serve("--plugin-dir", str(tmp_path))
    out, err = proc.communicate(timeout=STARTUP_TIMEOUT)
    assert proc.returncode != 0
    assert out == ""
    assert "could not be started" in err and "broken on purpose" in err


def test_missing_plugin_dir_fails_clearly(tmp_path: Path):
    proc = serve("--plugin-dir", str(tmp_path / "nowhere"))
    out, err = proc.communicate(timeout=STARTUP_TIMEOUT)
    assert proc.returncode != 0 and out == ""
    assert "main.py not found" in err


def test_bad_scenario_fails_clearly(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"app": {"mode": "spaceship"}}')
    proc = serve("--plugin-dir", str(PROBE_DIR), "--scenario", str(bad))
    out, err = proc.communicate(timeout=STARTUP_TIMEOUT)
    assert proc.returncode == 2 and out == ""
    assert "mode must be one of" in err


def test_default_plugin_dir_is_the_repository_root():
    from dify_emulator.emulator import REPO_ROOT as default_dir

    assert default_dir == REPO_ROOT
    assert os.path.isfile(default_dir / "dify_emulator" / "__init__.py")
