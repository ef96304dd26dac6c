"""Policy documents the tests store, one per upstream."""

from __future__ import annotations

from typing import Any

# At most 100 for `a`: a bigger value is an argument refusal naming /a.
SMALL_A = {"type": "object", "properties": {"a": {"type": "integer", "maximum": 100}}}

# The Python upstream: echo, add, slow-count, last-headers are visible; get-env is
# hidden; delete-file is denied outright; anything else falls to the default deny.
PY_POLICY: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "hide": ["get-env"],
    "tools": {
        "echo": {},
        "add": {"arguments": SMALL_A},
        "slow-count": {},
        "last-headers": {},
        "delete-*": {"action": "deny", "reason": "Deletion is not permitted for agents"},
    },
}
PY_VISIBLE = {"echo", "add", "slow-count", "last-headers"}

# server-everything: the same shape with its tool names.
EVERYTHING_POLICY: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "hide": ["get-env"],
    "tools": {
        "echo": {},
        "get-sum": {"arguments": {"type": "object", "properties": {"a": {"type": "number", "maximum": 100}}}},
        "trigger-long-running-operation": {},
        "get-tiny-image": {"action": "deny", "reason": "Images are not for agents"},
    },
}
EVERYTHING_VISIBLE = {"echo", "get-sum", "trigger-long-running-operation"}

ALLOW_ALL: dict[str, Any] = {"version": "1", "default": "allow"}
