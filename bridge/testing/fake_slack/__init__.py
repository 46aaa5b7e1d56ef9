"""A faithful fake of Slack, over real HTTP on 127.0.0.1.

Two halves, like the real thing:

- the Web API at ``api_url``, which the real ``slack_sdk`` ``AsyncWebClient`` talks to
  unmodified (``AsyncWebClient(token=..., base_url=fake.api_url)``); answers are in Slack's
  shapes, errors are HTTP 200 ``{"ok": false, "error": ...}``, rate limits are HTTP 429 with
  ``Retry-After``;
- deliveries to the app at ``events_url``: Events API envelopes, ``block_actions``,
  ``view_submission`` and ``view_closed`` payloads and slash commands, signed with the signing
  secret exactly as Slack signs them;
- or, in Socket Mode, the same deliveries over a WebSocket: the app calls
  ``apps.connections.open`` with its app-level token (``app_token``), connects to the
  ``ws://`` URL it gets, and acknowledges each envelope by its ``envelope_id``. While a socket
  is connected every delivery goes over it instead of ``events_url``.

Helpers act as the people in the workspace (``user_says``, ``click``, ``submit_view``...),
state is kept for assertions (``calls``, ``messages``, ``ephemerals``, ``open_views``,
``delivered``), and ``fail`` / ``rate_limit`` inject faults.

Modals as Slack runs them: a click or a slash command gives the app a ``trigger_id`` that
opens one view (``views.open``) for that person, once, within ``TRIGGER_TTL`` seconds
(``invalid_trigger_id``, ``exchanged_trigger_id``, ``expired_trigger_id``); the person
submits it (``submit_view``: their client refuses a required input left empty, or text of the
wrong length, with ``ClientRefused``) or closes it (``close_view``: ``view_closed`` only if
it asked with ``notify_on_close``); the app's answer within ``SUBMIT_TIMEOUT`` closes the
view, shows ``errors``, updates, pushes or clears, as the ``Submission`` returned says. Time
is read from ``clock``, which a test may replace to let seconds pass at once.

It is strict on purpose, so tests catch what a real workspace would refuse: ``blocks`` and
views (a modal's title, buttons, inputs and their ``submit``...) are validated with
slack_sdk's own Block Kit models plus the checks they lack, a message's blocks may carry
12,000 characters of text in all (``msg_blocks_too_long``), each method answers the
documented errors its state allows (archived channels, locked threads, a bot outside the
channel...), and ``enforce_tiers`` / ``limit_method`` switch on Slack's per-method rate
limits (off by default).

Text given to the human helpers is what Slack stores: already escaped (``&amp;``, ``&lt;``),
mentions as ``<@U123>``, links as ``<https://x|label>``.

``FakeSlack`` (``facade``) is the one object tests use; its parts, one module each:

- ``workspace``: the state (people, channels, messages, files, what the app did), on the
  records of ``models``;
- ``web_api``: the door of the Web API, running the methods of ``chat``,
  ``conversations``, ``reactions``, ``files``, ``users``, ``views``, ``modals`` and
  ``socket_mode``, after ``faults`` (injected errors and hangs) and ``ratelimits`` (Slack's
  tiers and pacing); ``params`` reads their arguments, ``blocks`` validates Block Kit;
- ``delivery``: what Slack sends the app, over HTTP or ``socket_mode``, shaped by
  ``events`` from the JSON ``render`` gives stored things;
- ``people``: who act in the workspace, and ``response_urls``, where the app answers them;
  ``modals`` is also what a person's client lets them submit, and what Slack does with the
  app's answer;
- ``waiting``: polling with a failure that says what was awaited.
"""

from bridge.testing.fake_slack.blocks import (
    MAX_ACTION_ID,
    MAX_BLOCK_ID,
    MAX_BLOCKS,
    MAX_BLOCKS_TEXT,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    MAX_INPUT_LABEL,
    MAX_INPUT_LENGTH,
    MAX_PLACEHOLDER,
    MAX_SECTION_TEXT,
)
from bridge.testing.fake_slack.chat import MAX_TEXT
from bridge.testing.fake_slack.conversations import DEFAULT_PAGE, MAX_PAGE
from bridge.testing.fake_slack.errors import ClientRefused, SlackError
from bridge.testing.fake_slack.facade import FakeSlack
from bridge.testing.fake_slack.modals import MAX_VIEW_STACK, SUBMIT_TIMEOUT, TRIGGER_TTL
from bridge.testing.fake_slack.models import (
    JSON,
    Channel,
    Ephemeral,
    Message,
    Submission,
    User,
)
from bridge.testing.fake_slack.ratelimits import TIERS
from bridge.testing.fake_slack.reactions import MAX_EMOJI
from bridge.testing.fake_slack.views import (
    MAX_CALLBACK_ID,
    MAX_EXTERNAL_ID,
    MAX_PRIVATE_METADATA,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_BUTTON,
    MAX_VIEW_SIZE,
    MAX_VIEW_TITLE,
)
from bridge.testing.fake_slack.web_api import SCOPES
from bridge.testing.waiting import wait_until

__all__ = [
    "DEFAULT_PAGE",
    "JSON",
    "MAX_ACTION_ID",
    "MAX_BLOCKS",
    "MAX_BLOCKS_TEXT",
    "MAX_BLOCK_ID",
    "MAX_BUTTON_TEXT",
    "MAX_BUTTON_VALUE",
    "MAX_CALLBACK_ID",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_EMOJI",
    "MAX_EXTERNAL_ID",
    "MAX_FIELD_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_INPUT_LABEL",
    "MAX_INPUT_LENGTH",
    "MAX_PAGE",
    "MAX_PLACEHOLDER",
    "MAX_PRIVATE_METADATA",
    "MAX_SECTION_TEXT",
    "MAX_TEXT",
    "MAX_VIEW_BLOCKS",
    "MAX_VIEW_BUTTON",
    "MAX_VIEW_SIZE",
    "MAX_VIEW_STACK",
    "MAX_VIEW_TITLE",
    "SCOPES",
    "SUBMIT_TIMEOUT",
    "TIERS",
    "TRIGGER_TTL",
    "Channel",
    "ClientRefused",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "SlackError",
    "Submission",
    "User",
    "wait_until",
]
