"""Mask the passwords inside URLs before they are printed, logged or put in an error message."""

from __future__ import annotations

import re

MASK = "**********"  # what pydantic prints for a SecretStr, so every masked secret looks alike

# scheme://user:PASSWORD@host... : everything between "user:" and the last "@" of the URL
# (an unencoded "@" in the password included); the user name is kept.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:'\"]*:)[^\s'\"]*@")
# ...?password=PASSWORD& (redis-py, for one, reads the password from the query too)
_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|token)=)[^&#\s'\"]*", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it replaced by :data:`MASK`.

    >>> redact_urls("redis://:hunter2@redis:6379/0")
    'redis://:**********@redis:6379/0'
    """
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", text)
