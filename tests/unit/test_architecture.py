"""The import rule of docs/architecture.md holds: each package imports only what its row allows."""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from configs import PROJECT_ROOT

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"
ROW = re.compile(r"^\| `(?P<package>[\w.]+)` \|[^|]*\| (?P<allowed>[^|]*) \|$")
OURS = ("configs", "server", "webui")


def allowed_imports() -> dict[str, set[str]]:
    """The table's rows: package → the packages it may import."""
    rules: dict[str, set[str]] = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        row = ROW.match(line.strip())
        if row:
            rules[row["package"]] = set(re.findall(r"`([\w.]+)`", row["allowed"]))
    return rules


def package_of(module: str, packages: set[str]) -> str | None:
    """The longest listed package that ``module`` is, or is inside."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in packages:
            return candidate
    return None


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute import of ours in a file, at any depth (lazy imports inside functions too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def source_files() -> list[Path]:
    return sorted(p for root in OURS for p in (PROJECT_ROOT / root).rglob("*.py"))


def test_the_table_lists_every_package_and_allows_no_cycle() -> None:
    rules = allowed_imports()
    assert {"configs", "server.core", "server.api", "server.launcher", "webui"} <= set(rules)
    for package, allowed in rules.items():
        assert allowed <= set(rules), f"{package} may import packages the table does not list"
    try:
        TopologicalSorter(rules).prepare()
    except CycleError as exc:
        pytest.fail(f"docs/architecture.md allows an import cycle: {exc.args[1]}")
    packages = set(rules)
    unlisted = {
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        for path in source_files()
        if package_of(".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts), packages) is None
    }
    assert unlisted <= {"server.__init__", "server"}, f"modules in no package: {sorted(unlisted)}"


def test_every_import_follows_the_table() -> None:
    rules = allowed_imports()
    packages = set(rules)
    broken: list[str] = []
    for path in source_files():
        module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        own = package_of(module, packages)
        if own is None:
            continue
        for line, name in imported_modules(path):
            target = package_of(name, packages)
            if target is not None and target != own and target not in rules[own]:
                broken.append(f"{path.relative_to(PROJECT_ROOT)}:{line} ({own}) imports {name} ({target})")
    assert not broken, "imports against docs/architecture.md:\n" + "\n".join(broken)


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a knowledge-base module importing the web layer is reported."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from server.api.errors import ApiError\n")
    [(line, name)] = imported_modules(sample)
    rules = allowed_imports()
    target = package_of(name, set(rules))
    assert (line, target) == (2, "server.api") and target not in rules["server.knowledge_base"]


KB = "server.knowledge_base"
LAYER = re.compile(r"^\d+\. \*\*[^*]+\*\*: (?P<modules>.*)$")


def kb_layers() -> dict[str, int]:
    """The list under "Inside server.knowledge_base": module (or subpackage) → its layer."""
    layers: dict[str, int] = {}
    text = ARCHITECTURE.read_text(encoding="utf-8").split(f"## Inside `{KB}`", 1)[1].split("\n## ", 1)[0]
    for number, line in enumerate(m for m in map(LAYER.match, text.splitlines()) if m):
        for name in re.findall(r"`([\w.]+)`", line["modules"].split(" (")[0]):
            layers[name] = number
    return layers


def kb_unit(module: str) -> str:
    """``server.knowledge_base.stores.faiss_store`` → ``stores``; ``…writer`` → ``writer``."""
    return module.removeprefix(KB + ".").split(".")[0]


def kb_imports(path: Path) -> list[tuple[int, str]]:
    """The knowledge-base modules a file imports (``from server.knowledge_base import x`` is ``x``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == KB:
            found += [(node.lineno, f"{KB}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(KB + ".")
        ):
            found.append((node.lineno, str(node.module)))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith(KB + ".")]
    return found


def test_knowledge_base_modules_import_only_their_layer_or_those_below() -> None:
    layers = kb_layers()
    assert {"errors", "stores", "writer", "service"} <= set(layers)
    broken: list[str] = []
    for path in sorted((PROJECT_ROOT / "server" / "knowledge_base").rglob("*.py")):
        module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        if path.name == "__init__.py" and path.parent.name == "knowledge_base":
            continue
        own = kb_unit(module)
        assert own in layers, f"{module} is in no layer of docs/architecture.md"
        for line, name in kb_imports(path):
            if layers.get(kb_unit(name), -1) > layers[own]:
                broken.append(f"{path.relative_to(PROJECT_ROOT)}:{line} ({own}) imports {name}")
    assert not broken, "knowledge-base imports against docs/architecture.md:\n" + "\n".join(broken)
