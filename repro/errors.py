"""Errors a user can fix: the command line prints them as one ``repro X: error:`` line, no traceback.

This module sits at the bottom of the package (it imports nothing from ``repro``) so that every
library module can raise a user error without depending on the command line above it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input the user can fix; printed without a traceback."""
