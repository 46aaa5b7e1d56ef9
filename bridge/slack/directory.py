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
    def __init__(
        self, client: AsyncWebClient, ttl: float = 600.0, agent_usergroup: str | None = None
    ) -> None:
        """`agent_usergroup`: when set, only its members count as agents."""
        self._client = client
        self._ttl = ttl
        self._cache: dict[str, tuple[float, AgentProfile]] = {}
        self._usergroup = agent_usergroup
        self._members: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._identity: tuple[str | None, str | None] | None = None

    async def identity(self) -> tuple[str | None, str | None]:
        """The installed workspace (team id) and app id, from `auth.test`."""
        if self._identity is None:
            resp = await self._client.auth_test()
            self._identity = (resp.get("team_id"), resp.get("app_id"))
        return self._identity

    async def is_agent(self, user_id: str) -> bool:
        """Every member of the channel is an agent, unless a user group says who is. Its
        members are cached for a minute; if Slack cannot tell, the last known list holds."""
        if self._usergroup is None:
            return True
        expires, members = self._members
        if expires <= time.monotonic():
            try:
                resp = await self._client.usergroups_users_list(usergroup=self._usergroup)
                members = frozenset(resp.get("users") or [])
                self._members = (time.monotonic() + 60, members)
            except Exception as exc:
                log.warning("usergroups.users.list failed (%s); keeping the last list", exc)
        return user_id in members

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
