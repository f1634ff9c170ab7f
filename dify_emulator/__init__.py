"""A local stand-in for Dify's plugin daemon: runs the plugin as Dify does and plays the Dify side.

See /work/shared/docs/emulator.md (the contract), README.md here (what the emulated apps compute, the scenario
extensions that describe them) and `Emulator` for the Python API.
"""

from .emulator import Emulator
from .plugin_process import PluginStartError
from .scenario import ScenarioError

__all__ = ["Emulator", "PluginStartError", "ScenarioError"]
