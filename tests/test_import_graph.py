"""The import graph of services/ and libs/: no import circle, and no domain module imports chat-api's
composition root — except the one circle still listed below, which issue 13's composition root removes.

Modules are read, not imported: an `import` under `if TYPE_CHECKING:` counts too, since a circle of
type hints is a circle of understanding all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "chat_api": ROOT / "services/chat-api/src",
    "router": ROOT / "services/router/src",
    "keyvault": ROOT / "services/keyvault/src",
    "switchyard_common": ROOT / "libs/common/src",
}
COMPOSITION_ROOT = "chat_api.core.services"

# The Services bag: domain modules take `services: Services` and the root builds them. Issue 13
# (item 2) replaces it with collaborators; until then this circle is known, and only this one.
KNOWN_CIRCLES = [
    {
        "chat_api.core.services",
        "chat_api.credentials.invalid_consumer",
        "chat_api.credentials.revocation",
        "chat_api.credentials.service",
    }
]


def module_files() -> dict[str, Path]:
    found = {}
    for package, source in PACKAGES.items():
        for path in (source / package).rglob("*.py"):
            parts = path.relative_to(source).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The modules of `known` that `name` imports (by `import x.y` or `from x import y`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    found.add(target)
                elif base in known:
                    found.add(base)
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, path, files) for name, path in files.items()}


def circles(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a set of module names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> Iterator[None]:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                yield from visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)
        yield None

    for node in sorted(graph):
        if node not in index:
            for _ in visit(node):
                pass
    return found


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [{"a", "b"}]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [{"a", "b", "c"}]),
    ],
)
def test_the_circle_finder_finds_what_it_must(graph: dict[str, set[str]], expected: list[set[str]]) -> None:
    assert circles(graph) == expected


def test_the_graph_sees_relative_and_type_checking_imports() -> None:
    graph = import_graph()
    assert "chat_api.chat.routing" in graph["chat_api.chat.pipeline"]
    # `from chat_api.core.services import Services` under TYPE_CHECKING is an edge.
    assert COMPOSITION_ROOT in graph["chat_api.credentials.service"]


def test_no_import_circle_but_the_known_one() -> None:
    found = circles(import_graph())
    assert [group for group in found if group not in KNOWN_CIRCLES] == [], "a new import circle"
    # A known circle that is gone must leave the list, so the list only ever shrinks.
    assert [group for group in KNOWN_CIRCLES if group not in found] == [], "remove it from KNOWN_CIRCLES"
