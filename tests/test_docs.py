"""The guides in docs/ name only commands the bot and its command line really have."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from aiogram import Router
from aiogram.filters import Command

from bot.cli.parser import build_parser
from handlers import feature_routers
from handlers.views.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = ("leader-guide", "staff-guide", "operator-guide")
TRANSLATIONS = ("zh-Hans",)

# A bot command is a slash and a name that does not continue a word, a path or a URL: "/list",
# "(/gb_close 4)", "发送 /orders" count; "docs/x", "https://t.me/bot", "/tg/<path>" do not.
# The lookbehind is ASCII on purpose, so a command written right after a Chinese character counts.
SLASH_WORD = re.compile(r"(?<![A-Za-z0-9_/.:~@<>-])/([a-z][a-z0-9_]*)(?![A-Za-z0-9_/.-])")
# `python -m bot SUB [ACTION]`, also as `.venv/bin/python -m bot ...` or inside `docker compose`.
CLI = re.compile(r"python -m bot ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")
MAKE = re.compile(r"(?:^|`)make ([a-z][a-z-]*)", re.MULTILINE)  # in code, not prose
ROUTE = re.compile(r"add_get\(\"/([a-z]+)\"")


def guide_files() -> list[Path]:
    """Every guide, in English and in each translation."""
    return sorted(DOCS.glob("*.md"))


def registered_commands() -> set[str]:
    """Every command some router has a Command filter for, and every menu command."""
    names = {command.name for command in COMMANDS}
    pending: list[Router] = list(feature_routers())
    while pending:
        router = pending.pop()
        pending.extend(router.sub_routers)
        for observer in router.observers.values():
            for handler in observer.handlers:
                for filter_object in handler.filters or ():
                    if isinstance(filter_object.callback, Command):
                        names.update(
                            c for c in filter_object.callback.commands if isinstance(c, str)
                        )
    return names


def http_paths() -> set[str]:
    """The web server's own paths (/healthz, /readyz, /metrics): not bot commands."""
    return set(ROUTE.findall((ROOT / "bot" / "web" / "health.py").read_text(encoding="utf-8")))


def cli_commands() -> dict[str, set[str]]:
    """Each `python -m bot` subcommand with the actions under it (empty when it has none)."""

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    return {name: set(choices(sub)) for name, sub in choices(build_parser()).items()}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def missing_cli_and_make(path: Path) -> list[str]:
    """The `python -m bot ...` commands and make targets the file names that do not exist."""
    text = path.read_text(encoding="utf-8")
    cli = cli_commands()
    wrong = [
        f"python -m bot {sub} {action}".strip()
        for sub, action in CLI.findall(text)
        if sub not in cli or (cli[sub] and action not in cli[sub])
    ]
    return wrong + [f"make {t}" for t in MAKE.findall(text) if t not in make_targets()]


def named_commands(path: Path) -> set[str]:
    """The commands a reader of the guide sees (not those of its hidden example annotations)."""
    shown = re.sub(r"<!--.*?-->", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return set(SLASH_WORD.findall(shown))


def test_the_rule_reads_commands_and_skips_paths() -> None:
    text = "Send `/list`, then (/gb_close 4); 发送 /orders。 docs/x https://t.me/bot GET `/tg/<p>`"
    assert set(SLASH_WORD.findall(text)) == {"list", "gb_close", "orders"}


@pytest.mark.parametrize("name", GUIDES)
def test_every_guide_has_its_translations(name: str) -> None:
    assert (DOCS / f"{name}.md").is_file()
    for language in TRANSLATIONS:
        assert (DOCS / f"{name}.{language}.md").is_file(), f"docs/{name}.{language}.md is missing"


def test_no_translation_without_its_english_guide() -> None:
    for path in guide_files():
        english = path.name.split(".")[0] + ".md"
        assert (DOCS / english).is_file(), f"{path.name} has no English {english}"


@pytest.mark.parametrize("path", guide_files(), ids=lambda p: p.name)
def test_every_command_in_a_guide_is_registered(path: Path) -> None:
    named = named_commands(path)
    assert named, f"{path.name} names no command: is the rule still right?"
    unknown = named - registered_commands() - http_paths()
    assert not unknown, f"{path.name} names commands the bot does not have: {sorted(unknown)}"


def test_the_guides_cover_most_commands() -> None:
    """A guard on the rule itself: the guides name most of what leaders and staff can do."""
    named = set().union(*(named_commands(path) for path in guide_files()))
    assert len(named) >= 60, sorted(named)


@pytest.mark.parametrize("name", GUIDES)
def test_a_translation_names_the_same_commands(name: str) -> None:
    english = named_commands(DOCS / f"{name}.md")
    for language in TRANSLATIONS:
        translated = named_commands(DOCS / f"{name}.{language}.md")
        assert translated == english, (
            f"{name}.{language}.md differs: missing {sorted(english - translated)}, "
            f"extra {sorted(translated - english)}"
        )


@pytest.mark.parametrize("path", guide_files(), ids=lambda p: p.name)
def test_every_cli_command_in_a_guide_exists(path: Path) -> None:
    wrong = missing_cli_and_make(path)
    assert not wrong, f"{path.name} names commands that do not exist: {wrong}"


def reference_files() -> list[Path]:
    """The README and the reference it links to (docs/reference/)."""
    return [ROOT / "README.md", *sorted((DOCS / "reference").glob("*.md"))]


@pytest.mark.parametrize("path", reference_files(), ids=lambda p: p.name)
def test_every_command_in_the_reference_exists(path: Path) -> None:
    """The reference names only bot commands, `python -m bot` commands and make targets that
    exist, as the guides do."""
    named = named_commands(path)
    unknown = named - registered_commands() - http_paths()
    assert not unknown, f"{path.name} names commands the bot does not have: {sorted(unknown)}"
    wrong = missing_cli_and_make(path)
    assert not wrong, f"{path.name} names commands that do not exist: {wrong}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (outside code blocks)."""
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            found.add(slug if slug not in found else f"{slug}-1")
    return found


@pytest.mark.parametrize(
    "path", [*reference_files(), *guide_files(), ROOT / "SECURITY.md"], ids=lambda p: p.name
)
def test_every_link_between_the_documents_leads_somewhere(path: Path) -> None:
    """A link to another file of the project names a file that exists and, with #anchor, one of
    its headings (the README was split into docs/reference/: links must follow)."""
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        missing = not linked.exists()
        if missing or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{path.name} links nowhere: {broken}"
