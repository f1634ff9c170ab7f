"""`python -m dify_emulator serve ...`: the emulator as a command (see the contract in emulator.md).

stdout carries exactly one line, the endpoint base URL, once the plugin is ready; everything else goes to
stderr. SIGINT and SIGTERM stop the plugin and exit 0.

`python -m dify_emulator serve-api ...` serves Dify's Service API instead (SERVICE_API.md): stdout carries
exactly one line, `http://HOST:PORT/v1`, once it serves; the app keys go to stderr.
"""

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from .emulator import Emulator
from .plugin_process import PluginStartError
from .scenario import ScenarioError, parse_assignment
from .service_api import ServiceApiEmulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dify_emulator",
                                     description="A local stand-in for Dify's plugin daemon.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the plugin and serve its endpoints")
    serve.add_argument("--scenario", help="scenario JSON file (default: the demo scenario)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--plugin-dir", help="plugin folder (default: the repository root)")
    serve.add_argument("--record", help="append one JSON line per backwards invocation to this file")
    serve.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                       help="override one endpoint setting (an app-selector takes an app id)")
    serve.add_argument("--python", help="interpreter that runs the plugin (default: this one)")
    serve_api = commands.add_parser("serve-api", help="serve Dify's Service API (/v1, app API keys) for the apps")
    serve_api.add_argument("--scenario", help="scenario JSON file (default: the demo scenario)")
    serve_api.add_argument("--host", default="127.0.0.1")
    serve_api.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    return parser


def _stop_on_signals() -> threading.Event:
    """An event SIGINT and SIGTERM set from now on."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def _wait(stop: threading.Event) -> None:
    # Waiting with a timeout keeps the main thread responsive to signals.
    while not stop.wait(0.5):
        pass


def serve_api(args: argparse.Namespace) -> int:
    """stdout: the base URL, once serving; stderr: the app keys."""
    try:
        api = ServiceApiEmulator(scenario=args.scenario, host=args.host, port=args.port)
    except ScenarioError as e:
        print(f"dify_emulator: {e}", file=sys.stderr)
        return 2
    return _serve(api, args, lambda: [f"app {app_id}: API key {key}" for app_id, key in api.app_keys.items()])


def serve(args: argparse.Namespace) -> int:
    """stdout: the endpoint base URL, once the plugin is ready."""
    try:
        settings = dict(parse_assignment(item) for item in args.overrides)
        emulator = Emulator(
            scenario=args.scenario,
            plugin_dir=args.plugin_dir,
            settings=settings,
            record=args.record,
            python=args.python,
            port=args.port,
            host=args.host,
        )
    except ScenarioError as e:
        print(f"dify_emulator: {e}", file=sys.stderr)
        return 2
    return _serve(emulator, args, list)


def _serve(server: Emulator | ServiceApiEmulator, args: argparse.Namespace,
           notes: Callable[[], list[str]]) -> int:
    """Start `server`, print `notes()` to stderr and its base URL to stdout, and serve until SIGINT or SIGTERM."""
    stop = _stop_on_signals()
    try:
        server.start()
    except PluginStartError as e:
        print(f"dify_emulator: the plugin could not be started: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"dify_emulator: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    try:
        for note in notes():
            print(note, file=sys.stderr)
        print(server.base_url, flush=True)
        _wait(stop)
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    return serve_api(args) if args.command == "serve-api" else serve(args)
