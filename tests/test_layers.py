"""The layers hold: handlers translate Telegram to service calls and back, and never reach into
storage; no handler module imports another; no handler file grows past 400 lines.

Read from the source with `ast`, so it costs nothing at run time. Dataclasses from storage
(`Entry`, `Post`, …) are fine as types; repositories, the database and a service's `.repo` are
not."""

from __future__ import annotations

import ast
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
