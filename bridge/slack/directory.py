"""Who Slack users are: `users.info` and the agents' user group, cached for a while.

A lookup Slack cannot answer right now (a 429, a timeout, its own trouble) is served from the
last good answer, or else raised (`Retry`, `Defer`) so that what needs it is retried: an agent
is never named by their Slack id, nor a real agent refused, because Slack was busy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from bridge.model import AgentProfile
from bridge.outbox import Defer, Retry
from bridge.slack.webapi import Refused, WebApi

log = logging.getLogger(__name__)

# Largest first: the contract promises the largest profile image.
_IMAGES = ("image_original", "image_1024", "image_512", "image_192", "image_72", "image_48")


class Directory:
    def __init__(self, api: WebApi, ttl: float = 600.0, agent_usergroup: str | None = None) -> None:
        """`agent_usergroup`: when set, only its members count as agents."""
        self._api = api
        self._ttl = ttl
        self._cache: dict[str, tuple[float, AgentProfile]] = {}
        self._usergroup = agent_usergroup
        self._members: tuple[float, frozenset[str]] | None = None
        self._identity: tuple[str | None, str | None] | None = None

    def knows(self, team_id: str, app_id: str) -> None:
        """The workspace and app, as `auth.test` told them at start-up."""
        self._identity = (team_id or None, app_id or None)

    async def identity(self) -> tuple[str | None, str | None]:
        """The installed workspace (team id) and app id, from `auth.test`; `Retry`, `Defer`
        or `Refused` when Slack does not tell."""
        if self._identity is None:
            answer = await self._api.call("auth.test")
            self._identity = (answer.data.get("team_id"), answer.data.get("app_id"))
        return self._identity

    async def is_agent(self, user_id: str) -> bool:
        """Every member of the channel is an agent, unless a user group says who is. Its
        members are cached for a minute; if Slack cannot tell, the last known list holds."""
        if self._usergroup is None:
            return True
        if self._members is None or self._members[0] <= time.monotonic():
            try:
                answer = await self._api.call("usergroups.users.list", usergroup=self._usergroup)
            except (Retry, Defer, Refused) as exc:
                if self._members is None and isinstance(exc, Refused):
                    # Never refuse a real agent for want of the list: ask again later.
                    raise Retry(str(exc)) from None
                if self._members is None:
                    raise
                log.warning("usergroups.users.list failed (%s); keeping the last list", exc)
            else:
                members = frozenset(answer.data.get("users") or [])
                self._members = (time.monotonic() + 60, members)
        return user_id in self._members[1]

    def member(self, user_id: str) -> bool | None:
        """Whether the user is an agent, if that is known without asking Slack (None: it
        is not, for now)."""
        if self._usergroup is None:
            return True
        if self._members is None or self._members[0] <= time.monotonic():
            return None
        return user_id in self._members[1]

    def known(self, user_id: str) -> tuple[AgentProfile, bool] | None:
        """The user's profile, and whether they are an agent, if both are known and fresh
        (no call to Slack); None when either needs asking."""
        hit = self._cache.get(user_id)
        if hit is None or hit[0] <= time.monotonic():
            return None
        if self._usergroup is None:
            return hit[1], True
        if self._members is None or self._members[0] <= time.monotonic():
            return None
        return hit[1], user_id in self._members[1]

    async def profile(self, user_id: str) -> AgentProfile:
        """The user's name, picture and email."""
        hit = self._cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            answer = await self._api.call("users.info", user=user_id)
        except (Retry, Defer) as exc:
            if hit is None:
                raise
            log.warning("users.info for %s failed (%s); using what was known", user_id, exc)
            return hit[1]
        except Refused as exc:
            # Slack says for good it will not tell (the user is gone, say): the id must do.
            log.warning("users.info for %s refused (%s); naming them by id", user_id, exc.error)
            return hit[1] if hit else AgentProfile(user_id, user_id, None, None)
        user = answer.data.get("user") or {}
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
