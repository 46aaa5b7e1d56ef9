"""Settings: every variable read, every mistake named on a line of its own, no secret shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import BOUNDS, ConfigError, Settings, load_settings, serving_problems

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-secret-bot-token",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "BRIDGE_CHANNEL": "C0HANDOFF",
    "BRIDGE_API_TOKEN": "api-token-value-0123",
}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, env_file=None)
    return caught.value.problems


def test_defaults() -> None:
    s = load_settings(GOOD, env_file=None)
    assert s.slack_api_url == "https://slack.com/api/"
    assert (s.host, s.port, s.base_url) == ("127.0.0.1", 3000, "http://127.0.0.1:3000")
    assert s.database_path == Path("bridge.db")
    assert (s.slack_rate, s.slack_burst, s.max_body) == (1.0, 5, 1048576)
    assert (s.assign_timeout, s.remind_after, s.queues, s.agent_usergroup) == (0, 0, {}, None)
    assert not s.socket_mode and s.webhook_url is None


def test_every_variable_is_read() -> None:
    s = load_settings(
        GOOD
        | {
            "SLACK_APP_TOKEN": "xapp-1-app",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "BRIDGE_WEBHOOK_URL": "https://bot.example.com/hook",
            "BRIDGE_WEBHOOK_SECRET": "whsec_aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=",
            "BRIDGE_DATABASE_URL": "sqlite:////var/lib/bridge.db",
            "BRIDGE_HOST": "0.0.0.0",
            "BRIDGE_PORT": "8080",
            "BRIDGE_PUBLIC_URL": "https://bridge.example.com/",
            "BRIDGE_SLACK_RATE": "0",
            "BRIDGE_SLACK_BURST": "2",
            "BRIDGE_MAX_BODY": "4096",
            "BRIDGE_ASSIGN_TIMEOUT": "600",
            "BRIDGE_REMIND_AFTER": "120",
            "BRIDGE_QUEUES": "billing=C0BILLING, tech=C0TECH",
            "BRIDGE_AGENT_USERGROUP": "S0AGENTS",
        },
        env_file=None,
    )
    assert s.socket_mode and s.database_path == Path("/var/lib/bridge.db")
    assert s.base_url == "https://bridge.example.com" and s.port == 8080
    assert s.queues == {"billing": "C0BILLING", "tech": "C0TECH"}
    assert s.channel_for("tech") == "C0TECH" and s.channel_for("other") == "C0HANDOFF"
    assert (s.assign_timeout, s.remind_after, s.agent_usergroup) == (600, 120, "S0AGENTS")


def test_missing_and_malformed_each_get_a_line() -> None:
    lines = problems(
        {
            "SLACK_BOT_TOKEN": "xoxp-user-token-oops",
            "SLACK_SIGNING_SECRET": "signing-secret-value",
            "SLACK_APP_TOKEN": "bad-app-token",
            "BRIDGE_WEBHOOK_SECRET": "plain-secret",
            "BRIDGE_PORT": "70000",
            "SLACK_API_URL": "ftp://slack",
        }
    )
    named = sorted(line.split(":")[0] for line in lines)
    assert named == sorted(
        [
            "SLACK_BOT_TOKEN",
            "SLACK_APP_TOKEN",
            "BRIDGE_WEBHOOK_SECRET",
            "BRIDGE_PORT",
            "SLACK_API_URL",
            "BRIDGE_CHANNEL",
            "BRIDGE_API_TOKEN",
        ]
    )
    text = "\n".join(lines)
    assert "xoxp-user-token-oops" not in text and "bad-app-token" not in text
    assert "plain-secret" not in text


def test_rules_between_variables() -> None:
    assert problems(GOOD | {"BRIDGE_WEBHOOK_URL": "https://bot.example.com"}) == [
        "BRIDGE_WEBHOOK_SECRET: required when BRIDGE_WEBHOOK_URL is set "
        "(unsigned webhooks are refused)"
    ]
    no_secret = {k: v for k, v in GOOD.items() if k != "SLACK_SIGNING_SECRET"}
    assert problems(no_secret)[0].startswith("SLACK_SIGNING_SECRET:")
    assert load_settings(no_secret | {"SLACK_APP_TOKEN": "xapp-1"}, env_file=None).socket_mode
    # A malformed app token is one line: not also a signing secret it would not need.
    assert problems(no_secret | {"SLACK_APP_TOKEN": "xoxb-1"}) == [
        "SLACK_APP_TOKEN: must be an app-level token starting with xapp-"
    ]


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BRIDGE_CHANNEL=C0FROMFILE\nBRIDGE_PORT=4000\n")
    s = load_settings(GOOD | {"BRIDGE_PORT": "5000"}, env_file=env_file)
    assert (s.channel, s.port) == ("C0HANDOFF", 5000)
    without_channel = {k: v for k, v in GOOD.items() if k != "BRIDGE_CHANNEL"}
    assert load_settings(without_channel, env_file=env_file).channel == "C0FROMFILE"


def test_a_mapping_is_all_that_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `hitl-bridge demo` relies on it: a real workspace's settings must not leak into its own.
    (tmp_path / ".env").write_text("BRIDGE_PORT=4000\nBRIDGE_QUEUES=a=C0FROMFILE\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGE_HOST", "0.0.0.0")
    monkeypatch.setenv("BRIDGE_AGENT_USERGROUP", "S0FROMENV")
    s = load_settings(GOOD, env_file=None)
    assert (s.host, s.port, s.queues, s.agent_usergroup) == ("127.0.0.1", 3000, {}, None)


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=\nBRIDGE_API_TOKEN=\nSLACK_APP_TOKEN=\n")
    lines = problems_from_file(env_file)
    assert "BRIDGE_API_TOKEN: required but not set" in lines
    assert "SLACK_BOT_TOKEN: required but not set" in lines
    assert not any(line.startswith("SLACK_APP_TOKEN") for line in lines)
    assert problems(GOOD | {"BRIDGE_API_TOKEN": "   "}) == ["BRIDGE_API_TOKEN: must not be blank"]


def problems_from_file(env_file: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env_file=env_file)
    return caught.value.problems


def test_botpress_needs_its_path_token() -> None:
    hook = {"BOTPRESS_WEBHOOK_URL": "https://webhook.botpress.cloud/abc"}
    [line] = problems(GOOD | hook)
    assert line.startswith("BOTPRESS_PATH_TOKEN: required when BOTPRESS_WEBHOOK_URL is set")
    for bad in ("short-token", "has a space in it 0123", "x" * 201, "slash/in/the/token/0123"):
        [line] = problems(GOOD | hook | {"BOTPRESS_PATH_TOKEN": bad})
        assert line.startswith("BOTPRESS_PATH_TOKEN: must be 16-200") and bad not in line
    token = "s3cret-path-token_0123"
    s = load_settings(GOOD | hook | {"BOTPRESS_PATH_TOKEN": token}, env_file=None)
    assert s.botpress_prefix == f"/botpress/{token}" and token not in repr(s)
    assert load_settings(GOOD, env_file=None).botpress_prefix is None
    alone = load_settings(GOOD | {"BOTPRESS_PATH_TOKEN": token}, env_file=None)
    assert alone.botpress_prefix is None  # no webhook URL: the routes stay off


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BRIDGE_ASSIGN_TIMEOUT", "inf"),  # the timers task would crash every second
        ("BRIDGE_REMIND_AFTER", "1e-9"),  # the timers task would spin
        ("BRIDGE_MAX_BODY", "1e12"),
        ("BRIDGE_MAX_BODY", "1000000000000"),
        ("BRIDGE_SLACK_RATE", "nan"),
        ("BRIDGE_SLACK_TIERS", "-inf"),
        ("BRIDGE_IDLE_REMINDER", "NaN"),
        ("BRIDGE_RETRY_BASE", "0"),
        ("BRIDGE_DELIVERY_MAX_AGE", "1e99"),
        ("BRIDGE_DELIVERY_MAX_ATTEMPTS", "-1"),
        ("BRIDGE_SLACK_BURST", "0"),
        ("BRIDGE_REMIND_REPEAT", "many"),
    ],
)
def test_numbers_must_be_finite_and_within_their_bounds(name: str, value: str) -> None:
    [line] = problems(GOOD | {name: value})
    assert line.startswith(f"{name}: must be ") and " from " in line, line


def test_bounds_and_zero_where_it_means_off_are_accepted() -> None:
    widest_retries = GOOD | {"BRIDGE_RETRY_BASE": "0.01", "BRIDGE_RETRY_MAX": "86400"}
    for field, bound in BOUNDS.items():
        name = str(Settings.model_fields[field].validation_alias)
        edges = [bound.low, bound.high] + ([0] if bound.off else [])
        for edge in edges:
            value = str(int(edge)) if bound.whole else repr(float(edge))
            settings = load_settings(widest_retries | {name: value}, env_file=None)
            assert getattr(settings, field) == edge, name
        if not bound.off:
            assert problems(widest_retries | {name: "0"})[0].startswith(f"{name}: must be ")


def test_retry_max_is_the_longest_delay() -> None:
    assert problems(GOOD | {"BRIDGE_RETRY_BASE": "10", "BRIDGE_RETRY_MAX": "5"}) == [
        "BRIDGE_RETRY_MAX: must be at least BRIDGE_RETRY_BASE (it is the longest delay)"
    ]


def test_an_in_memory_database_is_refused() -> None:
    for url in ("sqlite:///:memory:", "sqlite:///:memory:?cache=shared"):
        [line] = problems(GOOD | {"BRIDGE_DATABASE_URL": url})
        assert line.startswith("BRIDGE_DATABASE_URL: must name a file"), line


def test_serving_refuses_a_short_api_token_and_does_not_show_it() -> None:
    assert serving_problems(load_settings(GOOD, env_file=None)) == []
    for tokens in ("short-token", "long-enough-token-1, short"):
        settings = load_settings(GOOD | {"BRIDGE_API_TOKEN": tokens}, env_file=None)
        [line] = serving_problems(settings)
        assert line.startswith("BRIDGE_API_TOKEN: each token must be at least 16 characters")
        assert "short" not in line


def test_durability_is_normal_unless_full_is_asked_for() -> None:
    assert load_settings(GOOD, env_file=None).sqlite_synchronous == "normal"
    full = load_settings(GOOD | {"BRIDGE_SQLITE_SYNCHRONOUS": "full"}, env_file=None)
    assert full.sqlite_synchronous == "full"
    [line] = problems(GOOD | {"BRIDGE_SQLITE_SYNCHRONOUS": "off"})
    assert line.startswith("BRIDGE_SQLITE_SYNCHRONOUS") and "normal" in line and "full" in line
