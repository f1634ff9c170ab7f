"""Dify's Service API (the HTTP API app API keys call), emulated over the same apps as the plugin path.

See SERVICE_API.md in dify_emulator/ for the routes, keys, errors and where it differs from the plugin path.
"""

from .emulator import ServiceApiEmulator

__all__ = ["ServiceApiEmulator"]
