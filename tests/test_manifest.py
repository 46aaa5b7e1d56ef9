"""The Slack app manifests: `manifest.yml` (Socket Mode, pasted as it is) and
`manifest-http.yml` (HTTP mode: the same app with Socket Mode off and the bridge's URL)."""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).parents[1]
SCHEMAS = Path(__file__).parents[2] / "shared" / "slack"
URL = "https://bridge.example.com/slack/events"
MANIFESTS = ["manifest.yml", "manifest-http.yml"]


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load("manifest.yml")


@pytest.fixture(scope="module")
def http_manifest() -> dict[str, Any]:
    return load("manifest-http.yml")


@pytest.mark.parametrize("name", MANIFESTS)
@pytest.mark.parametrize("version", ["1.0.0", "2.0.0"])
def test_manifests_match_slack_schema(name: str, version: str) -> None:
    schema_file = SCHEMAS / f"manifest.schema.{version}.json"
    if not SCHEMAS.is_dir():
        pytest.skip(f"{SCHEMAS} not available")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(load(name), schema)


def test_manifest_metadata_and_app(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}
    info = manifest["display_information"]
    assert info["name"] == "HITL Bridge"
    assert len(info["name"]) <= 35
    assert info["description"]
    assert info["background_color"].startswith("#")
    bot_user = manifest["features"]["bot_user"]
    assert bot_user == {"display_name": "hitl-bridge", "always_online": True}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/hitl"
    assert "url" not in command  # Socket Mode: commands come over the WebSocket


def test_manifest_scopes_exactly(manifest: dict[str, Any]) -> None:
    assert manifest["oauth_config"]["scopes"] == {
        "bot": [
            "chat:write",
            "chat:write.customize",
            "channels:history",
            "groups:history",
            "channels:read",
            "groups:read",
            "users:read",
            "users:read.email",
            "usergroups:read",
            "reactions:write",
            "commands",
            "files:read",
            "files:write",
        ]
    }


def test_manifest_is_ready_for_socket_mode(manifest: dict[str, Any]) -> None:
    """Pasted as it is: Socket Mode on, and no URL to replace (Slack would not use one)."""
    settings = manifest["settings"]
    assert settings["event_subscriptions"] == {
        "bot_events": ["message.channels", "message.groups", "app_home_opened"],
    }
    assert settings["interactivity"] == {"is_enabled": True}
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    raw = (ROOT / "manifest.yml").read_text(encoding="utf-8")
    assert "bridge.example.com" not in raw
    assert "manifest-http.yml" in raw  # it says where HTTP mode is


def test_http_manifest_points_slack_at_the_bridge(http_manifest: dict[str, Any]) -> None:
    settings = http_manifest["settings"]
    assert settings["event_subscriptions"]["request_url"] == URL
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL}
    assert settings["socket_mode_enabled"] is False
    [command] = http_manifest["features"]["slash_commands"]
    assert (command["command"], command["url"]) == ("/hitl", URL)
    raw = (ROOT / "manifest-http.yml").read_text(encoding="utf-8")
    assert raw.count(URL) == 3
    assert raw.count("REPLACE") == 3  # each URL says it is to be replaced


def test_http_manifest_is_the_same_app(
    manifest: dict[str, Any], http_manifest: dict[str, Any]
) -> None:
    """Only what HTTP mode needs differs: Socket Mode off, and the three URLs."""
    http = copy.deepcopy(http_manifest)
    http["settings"]["socket_mode_enabled"] = True
    del http["settings"]["event_subscriptions"]["request_url"]
    del http["settings"]["interactivity"]["request_url"]
    for command in http["features"]["slash_commands"]:
        del command["url"]
    assert http == manifest
