"""Access to the project's web pages: an optional token, checked the same way on every page.

With an access token (``ECG_WEB_TOKEN``) every URL under a realm's path answers 401 unless the
request carries it: ``Authorization: Bearer TOKEN`` (scripts), ``?token=TOKEN`` (any URL), or
the cookie the page sets when opened once as ``PATH?token=TOKEN`` (it then redirects to the
same URL without the token, so the token leaves the address bar; the page's event stream sends
the cookie). The cookie holds an HMAC of the token, not the token; it is scoped to the realm's
path. The worker's ``/dashboard/`` and the ward board's ``/board/`` are two realms.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr


@dataclass(frozen=True)
class Realm:
    """A set of pages behind one token: its URL path, cookie name and the name it is shown by."""

    path: str
    cookie: str
    title: str


DASHBOARD = Realm("/dashboard/", "ecg_dashboard", "this dashboard")
BOARD = Realm("/board/", "ecg_board", "the ward board")


class TokenGate:
    """The access check of one realm; with no token configured every request passes."""

    def __init__(self, token: SecretStr | None, realm: Realm = DASHBOARD) -> None:
        self._token = token.get_secret_value().encode() if token is not None else None
        self.realm = realm

    @property
    def enabled(self) -> bool:
        """Whether a token is configured."""
        return self._token is not None

    @property
    def cookie(self) -> str:
        """The cookie value that proves the token: an HMAC of it, not the token itself."""
        key = self._token or b""
        message = f"{self.realm.cookie.replace('_', '-')}-cookie".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def _is_token(self, value: str | None) -> bool:
        if not value or self._token is None:
            return False
        return hmac.compare_digest(value.encode(), self._token)

    def query_token_valid(self, request: Any) -> bool:
        """Whether the URL carries the token as ``?token=``."""
        return self._is_token(request.query.get("token"))

    def allows(self, request: Any) -> bool:
        """Bearer header, ``?token=`` or the page's cookie; always True without a token."""
        if self._token is None:
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._is_token(value.strip()):
            return True
        cookie = request.cookies.get(self.realm.cookie, "")
        return self.query_token_valid(request) or hmac.compare_digest(
            cookie.encode(), self.cookie.encode())

    def refusal(self) -> Any:
        """HTTP 401 naming the ways to present the token."""
        from aiohttp import web as aioweb  # local: aiohttp loads only when used (fast --help)

        text = (f"401: {self.realm.title} needs its access token (ECG_WEB_TOKEN): open "
                f"{self.realm.path}?token=TOKEN in the browser, or send "
                "'Authorization: Bearer TOKEN'\n")
        realm = self.realm.cookie.replace("_", "-")
        return aioweb.Response(status=401, text=text,
                               headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})

    def enter(self, request: Any) -> Any:
        """303 to the same URL without ``?token=``, setting the cookie that stands for it."""
        from aiohttp import web as aioweb  # local: aiohttp loads only when used (fast --help)

        rest = {k: v for k, v in request.query.items() if k != "token"}
        response = aioweb.Response(status=303, headers={
            "Location": str(request.rel_url.with_query(rest)), "Cache-Control": "no-store"})
        response.set_cookie(self.realm.cookie, self.cookie, path=self.realm.path, httponly=True,
                            samesite="Strict")
        return response


def exposure_warning(bind_host: str, token: SecretStr | None, what: str = "the dashboard"
                     ) -> str | None:
    """A warning when a page of patients' data listens beyond loopback without a token."""
    if token is not None or bind_host == "localhost":
        return None
    try:
        if ipaddress.ip_address(bind_host).is_loopback:
            return None
    except ValueError:
        pass  # a host name other than localhost
    return (f"{what} serves patients' data without a token to every client that "
            f"reaches {bind_host}: set ECG_WEB_TOKEN (docs/operations.md, Security)")
