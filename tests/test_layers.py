"""Imports point one way (bot -> handlers -> services -> models), read from the source.

`bot/` reuses no handler's logic: jobs call services' verbs and render with handlers/views/;
only the app factory wires the routers in. `services/` never sees Telegram. A feature has one
name in every room (models/X.py, services/X, handlers/X.py or X_part.py, tests/test_X.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what bot/ may import from handlers/: what the views share, and in the app factory the router
# registry
RENDERING = ("handlers.views",)
REGISTRY = {"bot/app.py": ("handlers.feature_routers",)}


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Every module or name the file imports, by line (`from x import y` as x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def sources(room: str) -> list[Path]:
    return sorted((ROOT / room).rglob("*.py"))


def test_bot_imports_handlers_only_for_rendering_and_the_router_registry() -> None:
    breaches = []
    for path in sources("bot"):
        name = path.relative_to(ROOT).as_posix()
        allowed = RENDERING + REGISTRY.get(name, ())
        for line, module in imported(path):
            if within(module, ("handlers",)) and not within(module, allowed):
                breaches.append(f"{name}:{line} imports {module}")
    assert breaches == []


def test_no_router_imports_another_router() -> None:
    # what two routers share lives in handlers/views/ (or is a role filter), so a router's
    # module holds its own handlers and nothing another router reuses
    shared = ("handlers.views", "handlers.filters")
    breaches = [
        f"{path.relative_to(ROOT).as_posix()}:{line} imports {module}"
        for path in sources("handlers")
        if path.name != "__init__.py" or path.parent.name == "views"
        for line, module in imported(path)
        if within(module, ("handlers",)) and not within(module, shared)
    ]
    assert breaches == []


def test_services_never_import_aiogram_or_handlers() -> None:
    breaches = [
        f"{path.relative_to(ROOT).as_posix()}:{line} imports {module}"
        for path in sources("services")
        for line, module in imported(path)
        if within(module, ("aiogram", "handlers", "bot"))
    ]
    assert breaches == []


def test_the_check_sees_a_handler_import_in_bot(tmp_path: Path) -> None:
    # the walk is only worth something if it catches what it looks for
    sample = tmp_path / "job.py"
    sample.write_text(
        "from handlers.groupbuy import announce\nimport handlers.poll\n"
        "from handlers.views.poll import result_effects\n"
    )
    found = [module for _line, module in imported(sample) if within(module, ("handlers",))]
    assert [m for m in found if not within(m, RENDERING)] == [
        "handlers.groupbuy.announce",
        "handlers.poll",
    ]


def test_the_emulator_imports_nothing_of_the_bot() -> None:
    # tgemu/ is a package of its own: the playground, the tests and the benchmarks use it
    breaches = [
        f"{path.relative_to(ROOT).as_posix()}:{line} imports {module}"
        for path in sources("tgemu")
        for line, module in imported(path)
        if within(module, ("bot", "handlers", "services", "models", "migrations"))
    ]
    assert breaches == []


def test_only_the_playground_imports_the_emulator() -> None:
    # the image does not hold tgemu/: nothing the production start path loads may import it
    importers = sorted(
        path.relative_to(ROOT).as_posix()
        for room in ("bot", "handlers", "services", "models")
        for path in sources(room)
        if any(within(module, ("tgemu",)) for _line, module in imported(path))
    )
    assert importers == [
        "bot/cli/playground.py",
        "bot/cli/playground_console.py",
        "bot/cli/playground_screen.py",
        "bot/cli/playground_world.py",
    ]


# handlers/ modules that are the chat's shell rather than a feature, so have no service
SHELL = {
    "__init__": "the router registry",
    "start": "/start and its deep links: the door to every feature",
    "menu": "the main menu, whose screens belong to the features, and the last fallback",
    "errors": "the error handler of every router",
    "filters": "the role filters the routers share, not a router",
}
# models/ modules that are no feature's tables
NOT_FEATURES = {"__init__": "the table registry", "base": "the column types every table uses"}


def has_service(root: Path, name: str) -> bool:
    return (root / "services" / f"{name}.py").is_file() or (
        root / "services" / name / "__init__.py"
    ).is_file()


def drift(root: Path) -> list[str]:
    """Where a feature's name is missing from a room: handlers/X.py and handlers/X_part.py
    (feature X) need services/X and tests/test_X.py; models/X.py needs the same."""
    found = []
    features = {
        f"handlers/{path.name}": path.stem.split("_")[0]
        for path in sorted((root / "handlers").glob("*.py"))
        if path.stem not in SHELL
    } | {
        f"models/{path.name}": path.stem
        for path in sorted((root / "models").glob("*.py"))
        if path.stem not in NOT_FEATURES
    }
    for module, feature in features.items():
        if not has_service(root, feature):
            found.append(f"{module}: no services/{feature}")
        if not (root / "tests" / f"test_{feature}.py").is_file():
            found.append(f"{module}: no tests/test_{feature}.py")
    return found


def test_every_feature_has_one_name_in_every_room() -> None:
    assert drift(ROOT) == []


def test_the_check_sees_a_room_out_of_step(tmp_path: Path) -> None:
    # given a feature whose router, part and tables found no service or tests of their name
    for room in ("handlers", "models", "services", "tests"):
        (tmp_path / room).mkdir()
    for name in ("handlers/perks.py", "handlers/perks_rewards.py", "models/interaction.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "services" / "interactions.py").write_text("")
    (tmp_path / "tests" / "test_interactions.py").write_text("")
    assert drift(tmp_path) == [
        "handlers/perks.py: no services/perks",
        "handlers/perks.py: no tests/test_perks.py",
        "handlers/perks_rewards.py: no services/perks",
        "handlers/perks_rewards.py: no tests/test_perks.py",
        "models/interaction.py: no services/interaction",
        "models/interaction.py: no tests/test_interaction.py",
    ]
