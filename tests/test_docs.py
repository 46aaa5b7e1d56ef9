"""The docs: generated tables that match the code, and links that stay in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.config import Settings
from docs import generate

ROOT = Path(__file__).parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "examples" / "README.md",
        ROOT / "SECURITY.md",
        ROOT / "CHANGELOG.md",
    ]


def test_generated_tables_match_the_code() -> None:
    stale = generate.outdated()
    assert not stale, (
        f"{', '.join(stale)} no longer match the code: run `{generate.COMMAND}` from the "
        "repository root and commit the result"
    )


def test_every_setting_has_words() -> None:
    assert set(generate.SETTINGS) == set(Settings.model_fields)


def test_a_setting_without_words_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    words = dict(generate.SETTINGS)
    del words["port"]
    monkeypatch.setattr(generate, "SETTINGS", words)
    with pytest.raises(generate.Missing, match="port"):
        generate.settings()


def test_an_error_code_without_words_stops_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    words = dict(generate.ERRORS)
    del words["too_large"]
    monkeypatch.setattr(generate, "ERRORS", words)
    with pytest.raises(generate.Missing, match="too_large"):
        generate.errors()


def test_a_note_about_a_field_that_is_gone_stops_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(generate.NOTES, ("CreateUser", "nickname"), "gone")
    with pytest.raises(generate.Missing, match=r"CreateUser\.nickname"):
        generate.bodies()


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for outside in ("DESIGN.md", "PLATFORM_NOTES", "../shared", "/work/"):
        assert outside not in text, f"{page.name} refers to {outside}, which is not in the repo"
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{page.name}: no heading for {target}"


def test_readme_starts_with_the_two_commands() -> None:
    """CI runs the second line of the README's first block verbatim."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert block is not None
    install, test = block.group(1).splitlines()
    assert install.endswith(".venv/bin/hitl-bridge serve")
    assert test.endswith(".venv/bin/pytest -q")
