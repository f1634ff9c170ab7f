"""Ids the bridge makes up itself (request ids, ids of answers Dify did not name).

They must be unique, not secret, so they come from Python's own generator instead of `uuid4`: `os.urandom` is a
system call that releases the GIL, and on the plugin SDK's worker thread getting it back costs more than the whole
rest of making an id (measured with py-spy under the SDK's gevent runtime).
"""

from __future__ import annotations

import os
import random

_random = random.Random()  # seeded from the OS at import, and again in a forked child, so no two share ids
os.register_at_fork(after_in_child=_random.seed)


def new_id() -> str:
    """32 hex digits, as `uuid4().hex` gives."""
    return f"{_random.getrandbits(128):032x}"
