"""The load gate's exceptions, one tree.

    LoadtestError        anything the load test refuses or fails at
    ├── ConfigError      a flag or LOADTEST_* variable with a bad value (exit 2)
    └── TargetError      the target cannot be reached, or no request completed (exit 1)
"""

from __future__ import annotations


class LoadtestError(Exception):
    """Base of every error the load gate raises on purpose."""


class ConfigError(LoadtestError):
    """A flag or variable has a value the gate cannot use; the message names it and the fix."""


class TargetError(LoadtestError):
    """The target cannot be load-tested: unreachable, or nothing was measured."""
