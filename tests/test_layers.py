"""The layers hold: handlers translate Telegram to service calls and back, and never reach into
storage; no handler module imports another; no handler file grows past 400 lines; a feature's
package (`bot/posting/`, …) holds no aiogram middleware or dialogue state.

Read from the source with `ast`, so it costs nothing at run time. Dataclasses from storage
(`Entry`, `Post`, …) are fine as types; repositories, the database and a service's `.repo` are
not."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(p for p in HANDLERS.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def storage_uses(tree: ast.AST) -> set[str]:
    """Repositories and the database imported, annotated or reached through `.repo`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("storage"):
            found |= {
                a.name
                for a in node.names
                if a.name.endswith("Repository") or a.name in {"Database", "*"}
            }
            if node.module == "storage.database":
                found.add("storage.database")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("storage")}
        elif isinstance(node, ast.Attribute) and (
            node.attr == "repo" or node.attr.endswith("_repo")
        ):
            found.add(f".{node.attr}")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
            if isinstance(key, str) and (key.endswith("_repo") or key in {"db", "chats", "users"}):
                found.add(f"[{key!r}]")
    return found


def handler_imports(path: Path, tree: ast.AST) -> set[str]:
    """Other handler modules this one imports (its own package's modules are its own)."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "handlers":
                names = [f"handlers.{a.name}" for a in node.names]
            elif node.module.startswith("handlers."):
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("handlers")]
        for name in names:
            if package != "handlers" and (name == package or name.startswith(package + ".")):
                continue
            found.add(name)
    return found


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_handlers_use_services_not_storage(path: Path):
    used = storage_uses(ast.parse(path.read_text(encoding="utf-8")))
    assert used == set(), f"{module_name(path)} reaches into storage: {sorted(used)}"


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_no_handler_imports_another(path: Path):
    if path == HANDLERS / "__init__.py":
        return  # the one place that composes the routers
    assert handler_imports(path, ast.parse(path.read_text(encoding="utf-8"))) == set()


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_handler_files_stay_small(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines"


def test_the_checks_see_what_they_look_for():
    bad = ast.parse(
        "from storage.faq import FaqRepository, Entry\n"
        "import storage.database\n"
        "async def h(m, faq):\n    await faq.repo.get(1)\n    data['support_repo']\n"
    )
    assert storage_uses(bad) == {
        "FaqRepository",
        "storage.database",
        ".repo",
        "['support_repo']",
    }
    other = ast.parse("from handlers.faq import x\nfrom handlers.moderation.common import y\n")
    assert handler_imports(HANDLERS / "support.py", other) == {
        "handlers.faq",
        "handlers.moderation.common",
    }
    assert handler_imports(HANDLERS / "moderation" / "warns.py", other) == {"handlers.faq"}


def test_the_app_injects_exactly_the_typed_services():
    from bot.data import SERVICE_KEYS

    tree = ast.parse((ROOT / "bot" / "app.py").read_text(encoding="utf-8"))
    services = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "services"
    )
    returned = next(n for n in ast.walk(services) if isinstance(n, ast.Return))
    assert isinstance(returned.value, ast.Dict)
    keys = {k.value for k in returned.value.keys if isinstance(k, ast.Constant)}
    assert keys == SERVICE_KEYS


# --- one clock ----------------------------------------------------------------------------------

SOURCES = ("bot", "handlers", "storage")
WALL_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}
INTERVALS = {("time", "monotonic"), ("time", "monotonic_ns"), ("time", "perf_counter")}
# Interval timers that must not jump when the wall clock is set; none of them dates anything.
MONOTONIC_ALLOWED = {
    "bot/outbound.py": "outbound pacing windows",
    "bot/roles.py": "how long the chat admin list is trusted",
    "bot/cluster/__init__.py": "how long an update id is remembered (the update ledger)",
    "bot/moderation/reports.py": "a member's report window",
    "bot/moderation/understanding.py": "how long the spam model took to train, for the log",
    "bot/faq/service.py": "how long an index build took, for the log",
    "handlers/protection.py": "flood windows and an album's memory",
    "bot/moderation/album_verdicts.py": "how long an album's parts and verdict are remembered",
    "bot/admission.py": "the few milliseconds one event-loop iteration may admit updates for",
}


def time_reads(tree: ast.AST) -> set[tuple[str, str]]:
    """`time.time`, `datetime.now`, … read or referenced (a default argument counts too)."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if pair in WALL_CLOCK | INTERVALS:
                found.add(pair)
        elif isinstance(node, ast.ImportFrom) and node.module in {"time", "datetime"}:
            found |= {
                (node.module, a.name)
                for a in node.names
                if (node.module, a.name) in WALL_CLOCK | INTERVALS
            }
    return found


def source_files() -> list[Path]:
    return sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_time_is_read_only_through_the_clock(path: Path):
    name = path.relative_to(ROOT).as_posix()
    reads = time_reads(ast.parse(path.read_text(encoding="utf-8")))
    if name == "bot/clock.py":
        return
    assert not reads & WALL_CLOCK, f"{name} reads the wall clock itself: use the injected Clock"
    if name not in MONOTONIC_ALLOWED:
        assert not reads & INTERVALS, f"{name} times intervals; add it with a reason if it must"


def test_the_time_check_sees_what_it_looks_for():
    tree = ast.parse(
        "import time\nfrom datetime import UTC, datetime\nfrom time import monotonic\n"
        "def f(clock=time.time):\n    return datetime.now(UTC), time.monotonic()\n"
    )
    assert time_reads(tree) == {("time", "time"), ("datetime", "now"), ("time", "monotonic")}
    for name in MONOTONIC_ALLOWED:  # the list stays as short as the code needs
        assert time_reads(ast.parse((ROOT / name).read_text(encoding="utf-8"))) & INTERVALS, name


FEATURE_PACKAGES = sorted(p for p in (ROOT / "bot").iterdir() if any(p.glob("*.py")))
# the cluster's shared stores (dialogue storage, the update ledger) are aiogram's by nature
DISPATCH_ALLOWED = {"cluster"}


def dispatch_machinery(tree: ast.AST) -> set[str]:
    """aiogram's dispatching imported: middlewares and dialogue states, which live in
    `bot/middlewares.py` and `bot/waits.py`, not in a feature's package."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("aiogram.fsm"):
                found.add(node.module)
            found |= {a.name for a in node.names if a.name == "BaseMiddleware"}
    return found


@pytest.mark.parametrize(
    "path",
    [p for d in FEATURE_PACKAGES if d.name not in DISPATCH_ALLOWED for p in d.rglob("*.py")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_feature_packages_hold_no_middleware_or_dialogue_state(path: Path):
    used = dispatch_machinery(ast.parse(path.read_text(encoding="utf-8")))
    assert not used, f"{path.relative_to(ROOT)} uses {used}: move it beside the middlewares"


def test_the_dispatch_check_sees_what_it_looks_for():
    tree = ast.parse("from aiogram import BaseMiddleware\nfrom aiogram.fsm.state import State\n")
    assert dispatch_machinery(tree) == {"BaseMiddleware", "aiogram.fsm.state"}


def build_app(tmp_path: Path, clock: object = None):
    """The whole app as `python -m bot` builds it, not started (nothing connects)."""
    from bot.app import Steward
    from tests.harness import settings_for

    env = {
        "BOT_TOKEN": "123456:TEST",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "DATABASE_PATH": str(tmp_path / "steward.sqlite3"),
        "MANAGER_IDS": "9001",
        "SEMANTIC_MODEL": "off",
    }
    return Steward(settings_for(env), handle_signals=False, clock=clock)


def test_every_service_reads_the_one_injected_clock(tmp_path: Path):
    """Built with a FrozenClock, every object in the app that keeps a clock keeps that one
    (or measures intervals on the monotonic clock): nothing fell back to the system time."""
    import time

    from bot.clock import FrozenClock

    clock = FrozenClock(1_800_000_000)
    app = build_app(tmp_path, clock)
    clocks: dict[str, object] = {}
    seen: set[int] = set()

    def walk(obj: object, path: str) -> None:
        if id(obj) in seen or not hasattr(obj, "__dict__"):
            return
        seen.add(id(obj))
        for key, value in vars(obj).items():
            if key in {"clock", "_clock"}:
                clocks[f"{path}.{key}"] = value
            elif (type(value).__module__ or "").split(".")[0] in SOURCES:
                walk(value, f"{path}.{key}")

    walk(app, "app")
    for key, service in app.services().items():
        walk(service, key)
    for name, observer in app.dispatcher.observers.items():
        for n, middleware in enumerate([*observer.outer_middleware, *observer.middleware]):
            walk(middleware, f"{name}.middleware[{n}]")
    assert len(clocks) > 15
    wrong = {
        path: value
        for path, value in clocks.items()
        if value is not clock and value is not time.monotonic
    }
    assert wrong == {}


# --- services only in the injected data ---------------------------------------------------------


def test_no_repository_is_injected_into_handlers(tmp_path: Path):
    """Handlers get services; the database and repositories stay behind them. Checked on the
    built app's workflow data (what aiogram really injects) and on the declared types."""
    from bot.data import StewardData

    app = build_app(tmp_path)
    injected = {
        key: type(value).__qualname__
        for key, value in app.dispatcher.workflow_data.items()
        if (type(value).__module__ or "").startswith("storage")
    }
    assert injected == {}
    declared = {
        key: hint
        for key, hint in StewardData.__annotations__.items()
        if "Repository" in str(hint) or "Database" in str(hint)
    }
    assert declared == {}


# --- handler parameters are the injected data --------------------------------------------------

FROM_FILTERS = {"command", "callback_data"}  # aiogram's Command and CallbackData filters


def annotation_text(hint: object) -> str:
    """An annotation as written (`from __future__ import annotations` keeps them as text)."""
    text = hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else str(hint)
    required = re.fullmatch(r"(?:typing\.)?(?:Not)?Required\[(.*)\]", text)
    return required.group(1) if required else text


def handler_parameters() -> list[tuple[str, str, str]]:
    """(handler, parameter, annotation) for every parameter after the event, of every handler
    the routers register (a decorated handler shows its wrapper's, which aiogram calls)."""
    from handlers import build_routers

    found = []
    pending = list(build_routers())
    while pending:
        router = pending.pop()
        pending += router.sub_routers
        for observer in router.observers.values():
            for handler in observer.handlers:
                callback = handler.callback
                name = f"{callback.__module__}.{callback.__qualname__}"
                for param in list(inspect.signature(callback).parameters.values())[1:]:
                    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                        continue
                    found.append((name, param.name, annotation_text(param.annotation)))
    return found


def test_handler_parameters_are_the_typed_injected_data():
    """A handler's parameter is a key of `StewardData` (or a filter's own), annotated with the
    key's type, so mypy's view of a handler is what aiogram passes it."""
    from bot.data import StewardData

    declared = {k: annotation_text(v) for k, v in StewardData.__annotations__.items()}
    params = handler_parameters()
    assert len({name for name, _, _ in params}) > 50  # the walk reaches the handlers
    unknown = [(h, p) for h, p, _ in params if p not in declared and p not in FROM_FILTERS]
    assert unknown == []
    mistyped = [(h, p, a, declared[p]) for h, p, a in params if p in declared and a != declared[p]]
    assert mistyped == []


def test_the_parameter_check_sees_what_it_looks_for():
    assert annotation_text(typing.ForwardRef("NotRequired[FSMContext]")) == "FSMContext"
    assert annotation_text("RoleService") == "RoleService"
