import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).parents[1]
SCHEMAS = Path(__file__).parents[2] / "shared" / "slack"
URL = "https://bridge.example.com/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_manifest_matches_slack_schema(manifest: dict[str, Any]) -> None:
    schema_file = SCHEMAS / "manifest.schema.1.0.0.json"
    if not SCHEMAS.is_dir():
        pytest.skip(f"{SCHEMAS} not available")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(manifest, schema)


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
    assert (command["command"], command["url"]) == ("/hitl", URL)


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


def test_manifest_events_and_urls(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["event_subscriptions"] == {
        "request_url": URL,
        "bot_events": ["message.channels", "message.groups", "app_home_opened"],
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL}
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_manifest_explains_the_placeholders() -> None:
    raw = (ROOT / "manifest.yml").read_text(encoding="utf-8")
    assert "REPLACE" in raw
    assert "socket_mode_enabled: true" in raw
