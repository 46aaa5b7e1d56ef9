"""Who Slack users are: `users.info`, cached for a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.model import AgentProfile

log = logging.getLogger(__name__)

# Largest first: the contract promises the largest profile image.
_IMAGES = ("image_original", "image_1024", "image_512", "image_192", "image_72", "image_48")


class Directory:
    def __init__(self, client: AsyncWebClient, ttl: float = 600.0) -> None:
        self._client = client
        self._ttl = ttl
        self._cache: dict[str, tuple[float, AgentProfile]] = {}

    async def profile(self, user_id: str) -> AgentProfile:
        """The user's name, picture and email. If Slack cannot tell right now, the id stands
        in for the name: an agent's reply must not be lost over a profile."""
        hit = self._cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            resp = await self._client.users_info(user=user_id)
        except Exception as exc:
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.warning("users.info for %s failed (%s); using the id as the name", user_id, reason)
            return hit[1] if hit else AgentProfile(user_id, user_id, None, None)
        user = resp["user"]
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name")
        found = AgentProfile(
            slack_user_id=user_id,
            name=name or user.get("name") or user_id,
            picture_url=next((profile[k] for k in _IMAGES if profile.get(k)), None),
            email=profile.get("email"),
        )
        self._cache[user_id] = (time.monotonic() + self._ttl, found)
        return found

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        return {uid: (await self.profile(uid)).name for uid in user_ids}
