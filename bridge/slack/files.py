"""Files agents share in a thread, re-served to the bot and its end user.

Slack's file URLs need the bot token, so the bot gets a link to the bridge instead:
`{BRIDGE_PUBLIC_URL}/files/{token}`, where the token names one file, expires, and is signed
with a key kept in the database. Opening it streams the file from Slack. A tampered or
expired link gets 403. The token is the whole authorization: a query string added to a link
is ignored (it never reaches Slack and changes nothing in the answer).

The file is an agent's, served from the bridge's origin, so it is sent as an attachment that
the browser may not sniff or run (`nosniff`, a sandboxing CSP): an HTML file is downloaded,
not rendered as a page of the bridge. `<img>`, `<audio>` and `<video>` still show it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from bridge.model import Content, content_from_json

log = logging.getLogger(__name__)

_KINDS = {"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl"}
# A Slack answer that stalls is given up in 30 s; there is no total, since a big file to a
# slow end user may take long (aiohttp's read timer stops while the end user is behind).
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FileLinks:
    def __init__(
        self,
        key: bytes,
        base_url: str,
        token: str,
        session: aiohttp.ClientSession,
        slack_hosts: set[str],
        ttl: float = 7 * 86400,
        timeout: aiohttp.ClientTimeout = UPSTREAM_TIMEOUT,
    ) -> None:
        """`key` signs the links, `token` (the bot token) fetches from Slack, `slack_hosts`
        are where Slack's files live (the bot token goes nowhere else), `ttl` is how long a
        link works, `timeout` bounds the fetch from Slack."""
        self._key = key
        self._timeout = timeout
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session = session
        self._ttl = ttl
        self._slack_hosts = slack_hosts

    def link(self, file: dict[str, Any]) -> str:
        """A link to one Slack file, good for `ttl` seconds."""
        claims = {
            "u": file.get("url_private_download") or file.get("url_private"),
            "n": str(file.get("name") or "file")[:200],
            "e": int(time.time() + self._ttl),
        }
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{self.base_url}/files/{body}.{self._sign(body)}"

    def content(self, text: str, files: list[dict[str, Any]]) -> Content | None:
        """An agent's message with files: one media message, or a `bloc` with the text."""
        items: list[dict[str, Any]] = [{"type": "text", "payload": {"text": text}}] if text else []
        for file in files:
            if not isinstance(file, dict) or not (
                file.get("url_private_download") or file.get("url_private")
            ):
                continue
            kind = str(file.get("mimetype") or "").split("/")[0]
            field = _KINDS.get(kind, "fileUrl")
            title = str(file.get("title") or file.get("name") or "")[:200] or None
            items.append(
                {"type": kind if kind in _KINDS else "file",
                 "payload": {field: self.link(file), "title": title}}
            )  # fmt: skip
        if not items:
            return None
        if len(items) == 1:
            return content_from_json(items[0])
        return content_from_json({"type": "bloc", "payload": {"items": items[:50]}})

    def route(self) -> web.RouteDef:
        return web.get("/files/{token}", self._serve)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        url, name = self._verify(request.match_info["token"])
        if url is None:
            return _error(403, "forbidden", "this link is invalid or expired")
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            upstream = await self._session.get(
                url, headers=headers, allow_redirects=False, timeout=self._timeout
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not fetch a shared file from Slack: %s", type(exc).__name__)
            if isinstance(exc, TimeoutError):
                return _error(504, "timeout", "Slack did not answer in time")
            return _error(502, "bad_gateway", "Slack could not be reached")
        async with upstream:
            if upstream.status != 200:
                log.warning("Slack answered %s for a shared file", upstream.status)
                return _error(404, "not_found", "the file is gone")
            return await _relay(request, upstream, name)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def _verify(self, token: str) -> tuple[str | None, str]:
        body, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None, ""
        try:
            claims = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None, ""
        url = claims.get("u")
        if not isinstance(url, str) or urlsplit(url).netloc not in self._slack_hosts:
            return None, ""
        if not isinstance(claims.get("e"), int) or claims["e"] < time.time():
            return None, ""
        return url, str(claims.get("n") or "file")


async def _relay(
    request: web.Request, upstream: aiohttp.ClientResponse, name: str
) -> web.StreamResponse:
    """Stream Slack's file to the end user. Should Slack stall part way, the error ends the
    connection, so the file shows as cut short rather than complete."""
    response = _attachment(upstream, name)
    await response.prepare(request)
    async for chunk in upstream.content.iter_chunked(65536):
        await response.write(chunk)
    await response.write_eof()
    return response


def _attachment(upstream: aiohttp.ClientResponse, name: str) -> web.StreamResponse:
    """The response that relays `upstream`: a download, never a page of the bridge's."""
    return web.StreamResponse(
        headers={
            "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream"),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            # Should a browser render it all the same: no script, no plugin, no fetch.
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=300",
        }
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
