"""`python -m gateway --config FILE`: the gateway under gunicorn, several workers, streams never buffered.

Each worker builds its own app after the fork (connections must not cross it) and shares state with the others
through the SQLite file or Redis. Prints one line, the base URL, once it listens (like the emulator), then logs to
stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from gateway.app import GatewayApp
from gateway.config import ConfigError, GatewayConfig, load


class GatewayServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: GatewayConfig, worker_class: str) -> None:
        self.gateway_config = config
        self.worker_class = worker_class
        super().__init__()

    def load_config(self) -> None:
        config = self.gateway_config
        settings: dict[str, Any] = {
            "bind": config.listen,
            "workers": config.workers,
            "worker_class": self.worker_class,
            "threads": config.threads,
            # A stream can stay silent between Dify's parts for as long as the gateway waits for them.
            "timeout": int(config.timeouts.read) + 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            # The address bound, not the configured one: port 0 picks a free port.
            "when_ready": lambda server: print(str(server.LISTENERS[0]), flush=True),
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> GatewayApp:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per Dify call would drown what matters
        return GatewayApp(self.gateway_config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--config", help="the TOML config file (GATEWAY_* environment variables override it)")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "gevent"],
                        help="gthread (default: a thread per open request) or gevent")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as error:
        print(f"gateway: bad configuration: {error}", file=sys.stderr)
        return 2
    GatewayServer(config, args.worker_class).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
