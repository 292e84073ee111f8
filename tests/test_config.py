"""Configuration: every bad value stops the start with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, require_token, require_webhook
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m bot ...` in a clean environment (no .env, only the given variables)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    base["PYTHONPATH"] = str(ROOT)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd or ROOT / "tests",
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("OWNER_IDS", "12,abc", "OWNER_IDS: expected comma-separated Telegram user ids, got 'abc'"),
        ("WEBHOOK_PORT", "eighty", "WEBHOOK_PORT:"),
        ("WEBHOOK_PORT", "70000", "WEBHOOK_PORT:"),
        ("DEFAULT_TIMEZONE", "Mars/Olympus", "DEFAULT_TIMEZONE: expected an IANA time zone"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE: expected one of en, zh_Hans, zh_Hant"),
        ("DATABASE_URL", "mysql://localhost/db", "DATABASE_URL: driver 'mysql' is not supported"),
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN: expected a token like"),
        ("TELEGRAM_API_URL", "ftp://example", "TELEGRAM_API_URL: expected an http"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: expected a URL like redis://"),
        ("WEBHOOK_URL", "example.org/hook", "WEBHOOK_URL: expected an https:// URL"),
        ("PROMO_QUIET_HOURS", "25:00-8", "PROMO_QUIET_HOURS: expected quiet hours like"),
        ("BROADCAST_PER_SECOND", "31", "BROADCAST_PER_SECOND:"),
    ],
)
def test_a_malformed_variable_stops_the_start_with_one_line(
    variable: str, value: str, expected: str
) -> None:
    # given a malformed value, when the bot starts
    result = run_cli("run", env={variable: value, "BOT_TOKEN": "123:abc"} | {variable: value})
    # then it exits with one readable line naming the variable, and no traceback
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_run_without_a_token_says_what_to_do() -> None:
    result = run_cli("run")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: BOT_TOKEN is not set")
    assert "playground" in result.stderr
    assert "Traceback" not in result.stderr


def test_webhook_mode_needs_url_and_secret() -> None:
    settings = make_settings(bot_token="123:abc", webhook_url="https://bot.example.org/tg")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is not set"):
        require_webhook(settings)
    settings = make_settings(bot_token="123:abc", webhook_secret="s3cr3t-token")
    with pytest.raises(ConfigError, match="WEBHOOK_URL is not set"):
        require_webhook(settings)
    settings = make_settings(webhook_url="https://x.example/tg", webhook_secret="bad secret!")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET: use 1-256 characters"):
        require_webhook(settings)
    ok = make_settings(webhook_url="https://x.example/tg", webhook_secret="good_secret-1")
    assert require_webhook(ok) == ("https://x.example/tg", "good_secret-1")


def test_a_webhook_secret_is_ascii_as_telegram_requires() -> None:
    # letters and digits of other scripts are letters and digits to str.isalnum, not to Telegram
    for secret in ("sécret-token", "秘密token", "token٣", "x" * 257):
        settings = make_settings(webhook_url="https://x.example/tg", webhook_secret=secret)
        with pytest.raises(ConfigError, match="WEBHOOK_SECRET: use 1-256 characters"):
            require_webhook(settings)
    longest = make_settings(webhook_url="https://x.example/tg", webhook_secret="A_z-9" * 51 + "x")
    assert require_webhook(longest)[1] == "A_z-9" * 51 + "x"


def test_polling_mode_serves_this_machine_only_unless_told() -> None:
    assert make_settings().metrics_host == "127.0.0.1"
    assert make_settings(metrics_host="0.0.0.0").metrics_host == "0.0.0.0"


def test_defaults_and_plain_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "OWNER_IDS", "BOT_TOKEN", "TELEGRAM_API_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("OWNER_IDS=7, 8\nDATABASE_URL=postgresql://u@db/shop\n")
    settings = load_settings()
    assert settings.owner_ids == frozenset({7, 8})
    assert settings.database_url == "postgresql+asyncpg://u@db/shop"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.redis_url is None
    assert settings.default_locale == "en" and settings.default_timezone == "UTC"
    with pytest.raises(ConfigError, match="BOT_TOKEN is not set"):
        require_token(settings)


def test_default_database_is_a_sqlite_file_under_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = make_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/bot.sqlite3"
    assert settings.sqlite_path() == Path("data/bot.sqlite3")


def test_help_lists_every_operator_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "migrate", "playground", "start", "scheduler"):
        assert command in result.stdout
    webhook = run_cli("run", "--help")
    assert "--webhook" in webhook.stdout


WITHOUT_EMULATOR = (
    "import importlib.util as u; found = u.find_spec; "
    "u.find_spec = lambda name, *a, **k: None if name == 'tgemu' else found(name, *a, **k); "
    "from bot.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("start", "configuration error: BOT_TOKEN is not set"),
        ("playground", "the playground needs the Bot API emulator (the tgemu package)"),
    ],
)
def test_without_the_emulator_a_start_without_token_says_what_is_missing(
    command: str, expected: str, tmp_path: Path
) -> None:
    """The production image leaves the emulator (tgemu) out: a start without BOT_TOKEN, which
    elsewhere opens the playground, stops with one line there instead of an ImportError."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base |= {"PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMULATOR, command],
        capture_output=True,
        text=True,
        env=base,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
