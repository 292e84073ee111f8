"""The deployment files stay in step with the code: .env.example, the compose file, the image."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
# variables the compose file reads for itself, not settings of the bot
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "PUBLIC_ADDRESS", "POSTGRES_USER", "POSTGRES_DB"}


def assignments(text: str) -> list[str]:
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_env_example_lists_every_setting_once_with_a_comment() -> None:
    text = (ROOT / ".env.example").read_text("utf-8")
    names = assignments(text)
    fields = {name.upper() for name in Settings.model_fields}
    assert sorted(fields - set(names)) == [], "settings missing from .env.example"
    assert sorted(set(names) - fields - COMPOSE_ONLY) == [], "unknown names in .env.example"
    assert len(names) == len(set(names)), "a name is listed twice"
    # every block of settings is explained by a comment line just above it
    blocks = [block.splitlines() for block in text.split("\n\n")]
    for block in blocks:
        if any(assignments(line) for line in block):
            assert block[0].startswith("# "), block


def test_env_example_holds_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    from_example = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert from_example.model_dump() == make_settings().model_dump()


def test_compose_sets_only_real_settings_and_runs_one_scheduler() -> None:
    text = (ROOT / "docker-compose.yml").read_text("utf-8")
    fields = {name.upper() for name in Settings.model_fields}
    keys = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):", text, flags=re.MULTILINE))
    assert keys and sorted(keys - fields - COMPOSE_ONLY) == []
    assert '["python", "-m", "bot", "scheduler"]' in text
    assert '["python", "-m", "bot", "run", "--webhook"]' in text
    assert 'RUN_SCHEDULER: "false"' in text
    for service in ("postgres:", "redis:", "worker:", "scheduler:", "migrate:"):
        assert f"\n  {service}" in text
    assert text.count("healthcheck:") >= 4


def test_compose_has_no_default_database_password() -> None:
    text = (ROOT / "docker-compose.yml").read_text("utf-8")
    # every use of the password requires it to be set: the stack refuses to start without it
    uses = re.findall(r"\$\{POSTGRES_PASSWORD[^}]*\}", text)
    assert len(uses) >= 2
    assert set(uses) == {"${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"}, uses
    assert "POSTGRES_HOST_AUTH_METHOD" not in text
    # and the example environment leaves it to the operator
    example = (ROOT / ".env.example").read_text("utf-8")
    assert re.search(r"^POSTGRES_PASSWORD=$", example, flags=re.MULTILINE)


def test_the_image_and_ci_install_the_hashed_lock_then_the_project_alone() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "--no-deps --no-build-isolation" in dockerfile
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert "--require-hashes --no-deps -r requirements-dev.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "make setup" in ci  # CI installs exactly as make setup does
    # every pin in the locks carries a hash, and the runtime pins agree between the two
    pins: dict[str, dict[str, str]] = {}
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text("utf-8")
        found = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, flags=re.MULTILINE))
        assert found, name
        assert text.count("==") == len(found)
        assert len(re.findall(r"^([A-Za-z0-9_.-]+)==", text, flags=re.MULTILINE)) == len(found)
        pins[name] = found
    runtime, dev = pins["requirements.lock"], pins["requirements-dev.lock"]
    assert {name: dev.get(name) for name in runtime} == runtime
    for name in ("aiogram", "aiohttp", "pillow", "setuptools"):
        assert name in runtime


def test_pip_itself_is_pinned_by_hash_and_never_upgraded_unhashed() -> None:
    # `make setup` ran `pip install --upgrade pip`: whatever pip the index served, unchecked
    pinned = (ROOT / "requirements-pip.lock").read_text("utf-8")
    assert re.search(r"^pip==[0-9.]+ \\\n\s+--hash=sha256:[0-9a-f]{64}$", pinned, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text("utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    for text in (makefile, dockerfile):
        assert "--upgrade pip" not in text and "-U pip" not in text
        assert re.search(
            r"--require-hashes --no-deps --only-binary :all: \\?\s*-r requirements-pip", text
        )
    # pip is installed before the locks (the Makefile's first install, the image's first RUN)
    assert makefile.index("requirements-pip.lock\n") < makefile.index("-r requirements-dev.lock")
    assert dockerfile.index("requirements-pip.lock \\") < dockerfile.index("-r requirements.lock")


def test_minimum_versions_stay_above_the_known_advisories() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    for pin in ('"aiohttp>=3.14.3"', '"pillow>=12.3"', '"redis>=6.2"', '"setuptools>=78.1.1"'):
        assert pin in pyproject, pin


def test_the_image_runs_a_webhook_worker_as_an_unprivileged_user() -> None:
    text = (ROOT / "Dockerfile").read_text("utf-8")
    assert text.count("FROM python:3.11-slim") == 1
    user = re.search(r"^USER (\S+)$", text, flags=re.MULTILINE)
    assert user is not None and user.group(1) not in ("root", "0")
    assert "pybabel compile" in text
    assert text.rstrip().endswith('CMD ["python", "-m", "bot", "run", "--webhook"]')


def test_the_image_leaves_the_emulator_out() -> None:
    # tgemu/ serves the playground, the tests and the benchmarks, never a production worker
    text = (ROOT / "Dockerfile").read_text("utf-8")
    copies = re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE)
    assert copies and not any("tgemu" in line for line in copies)
    assert not any(line.split()[0] in (".", "./") for line in copies), "the whole context"
    assert "tgemu" in (ROOT / ".dockerignore").read_text("utf-8").split()


# what a worker and the scheduler load to start, and the command line's help; then which
# tgemu modules came with them (the playground alone imports the emulator, when it runs)
PRODUCTION_START = """
import contextlib, io, sys
import bot.app, bot.web.dashboard, bot.scheduler, bot.webhook
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main([]) == 0
print(sorted(m for m in sys.modules if m == "tgemu" or m.startswith("tgemu.")))
"""


def python_prints(code: str) -> str:
    """What a new Python process running `code` in the project prints (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_production_start_path_does_not_import_the_emulator() -> None:
    assert python_prints(PRODUCTION_START) == "[]"


# what a process that runs the bot does to its garbage collector once started
STARTED = """
import gc
import bot.app
before = gc.get_threshold()
bot.app.freeze_startup_objects()
print(before, gc.get_threshold(), gc.get_freeze_count() > 0)
"""


def test_a_started_process_freezes_its_start_up_objects_and_collects_less_often() -> None:
    # Python's own thresholds before; after, the youngest generation waits for 10,000
    # allocations, and what start-up built is out of the collector's reach
    assert python_prints(STARTED) == "(700, 10, 10) (10000, 10, 10) True"
