"""The dependency rule between askdocs' packages, checked on every import in the source.

Each product package may import only the packages ``LAYERS`` names for it: dependencies point one way
(``app`` and ``eval`` use ``generation``, which uses ``retrieval``, which uses the shared ``askdocs``;
``ingest`` uses retrieval's store; nothing imports ``app`` or ``bench``). The rule is the strictest one
the code satisfies, so a new upward import fails here, naming file, line and import, instead of being
found later as an import cycle or a layer that can no longer be tested alone.

Every import counts: at module level, inside functions, under ``TYPE_CHECKING`` (a type-only import
is still a dependency a reader must follow), ``importlib.import_module("...")`` with a literal name,
and the registries' lazy ``"package.module:attribute"`` entries. One module is exempt:
``COMPOSITION_ROOT``, which builds the whole object graph from Settings and so may import every product
package but ``app`` and ``bench``; a module that imports *it* is checked as importing what it imports.
``tests/`` may import anything and is not checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

# package: (the packages it may import besides itself, why)
LAYERS: dict[str, tuple[frozenset[str], str]] = {
    "askdocs": (frozenset(), "shared settings, types, text, models, registry: below every product package"),
    "retrieval": (frozenset({"askdocs"}), "stores, embedders, rerankers, BM25, the hybrid retriever"),
    "ingest": (frozenset({"askdocs", "retrieval"}), "loads and chunks files into retrieval's store and BM25"),
    "generation": (frozenset({"askdocs", "retrieval"}), "answers from retrieved evidence; never ingests"),
    "eval": (
        frozenset({"askdocs", "retrieval", "ingest", "generation"}),
        "indexes benchmarks and measures retrieval and answers through the product's own parts",
    ),
    "tuning": (
        frozenset({"askdocs", "retrieval", "generation", "eval"}),
        "a generator writes questions, eval's metrics measure, retrieval's reranker is trained",
    ),
    "app": (
        frozenset({"askdocs", "retrieval", "ingest", "generation", "eval", "tuning"}),
        "the UI and REST API over every product package; nothing imports it",
    ),
    "bench": (
        frozenset({"askdocs", "retrieval", "ingest", "generation", "eval", "tuning"}),
        "benchmarks through public calls, never the app; nothing imports it",
    ),
}
# The one exception: the composition root builds every entry point's object graph.
COMPOSITION_ROOT = "askdocs/runtime.py"
COMPOSITION_ROOT_MODULE = "askdocs.runtime"
COMPOSITION_ROOT_MAY_IMPORT = frozenset({"askdocs", "ingest", "retrieval", "generation", "eval", "tuning"})
# A package's command line (``python -m ingest``, ``python -m generation``) is an entry point, like the app:
# it may build its parts with the composition root, which is the only product import it gains by that.
ENTRY_POINT = "__main__.py"

PACKAGES = tuple(LAYERS)
LAZY_ENTRY = re.compile(r"^(?:%s)(?:\.\w+)*:\w+$" % "|".join(PACKAGES))  # a Registry's "pkg.module:attr"


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, dotted module) for every absolute import in ``source``, wherever it is written.

    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a submodule: ``from askdocs import runtime``).
    Relative imports stay inside their own package and are left out.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Call) and _call_name(node.func) in {"import_module", "__import__"}:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LAZY_ENTRY.match(node.value):
            found.append((node.lineno, node.value.partition(":")[0]))
    return found


def _call_name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _top(module: str) -> str:
    return module.split(".")[0]


def layer_violations(source: str, path: str, root_imports: frozenset[str] = frozenset()) -> list[str]:
    """``path:line: import X`` with the reason, for each import in ``source`` that breaks the rule.

    ``path`` is relative to the repository root; its first part is the file's package. ``root_imports``:
    the product packages the composition root imports, which importing it amounts to.
    """
    package = Path(path).parts[0]
    is_root = Path(path).as_posix() == COMPOSITION_ROOT
    allowed = COMPOSITION_ROOT_MAY_IMPORT if is_root else LAYERS[package][0]
    out, seen = [], set()
    for line, module in sorted(set(imported_modules(source, path))):
        if module == COMPOSITION_ROOT_MODULE and not is_root and Path(path).name != ENTRY_POINT:
            for target in sorted(root_imports - allowed - {package}):
                out.append(
                    f"{path}:{line}: import {module} brings in {target}, "
                    f"which {package} may not import (it may import: {_listed(allowed)})"
                )
        target = _top(module)
        if (line, target) in seen:  # ``from app.views import ask``: one import, one report
            continue
        seen.add((line, target))
        if target in LAYERS and target != package and target not in allowed:
            why = "the composition root" if is_root else package
            out.append(
                f"{path}:{line}: import {module}: {why} may not import {target} "
                f"(it may import: {_listed(allowed)})"
            )
    return out


def _listed(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "no product package"


def product_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _root_imports() -> frozenset[str]:
    root = ROOT / COMPOSITION_ROOT
    if not root.exists():
        return frozenset()
    modules = imported_modules(root.read_text("utf-8"), COMPOSITION_ROOT)
    return frozenset(_top(m) for _, m in modules) & set(LAYERS)


def test_every_import_follows_the_dependency_rule() -> None:
    root_imports = _root_imports()
    found = []
    for path in product_files():
        relative = path.relative_to(ROOT).as_posix()
        found += layer_violations(path.read_text("utf-8"), relative, root_imports)
    assert not found, "imports against the dependency rule:\n" + "\n".join(found)


def test_the_check_reads_every_product_package() -> None:
    files = product_files()
    per_package = {name: sum(p.relative_to(ROOT).parts[0] == name for p in files) for name in PACKAGES}
    assert len(files) >= 100, f"only {len(files)} files found under {ROOT}"
    assert all(n >= 3 for n in per_package.values()), per_package
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk <= set(LAYERS), f"packages without a place in LAYERS: {sorted(on_disk - set(LAYERS))}"


def test_the_rule_is_one_way_and_nothing_imports_app_or_bench() -> None:
    for package, (allowed, _) in LAYERS.items():
        assert allowed <= set(LAYERS) and package not in allowed
        assert not allowed & {"app", "bench"}, f"{package} may import app or bench"
    assert not COMPOSITION_ROOT_MAY_IMPORT & {"app", "bench"}
    order: list[str] = []  # a topological order exists only if the rule has no cycle
    while len(order) < len(LAYERS):
        ready = [p for p, (allowed, _) in LAYERS.items() if p not in order and allowed <= set(order)]
        assert ready, f"the rule has a cycle among {sorted(set(LAYERS) - set(order))}"
        order += sorted(ready)


def test_the_checker_catches_planted_violations() -> None:
    planted = "import json\nfrom askdocs.types import Chunk\n\n\ndef late():\n    from app.views import ask\n"
    assert layer_violations(planted, "retrieval/x.py") == [
        "retrieval/x.py:6: import app.views: retrieval may not import app (it may import: askdocs)",
    ]
    assert layer_violations("import bench.scale\n", "eval/x.py")[0].startswith("eval/x.py:1: import bench")
    assert layer_violations("import generation.prompt\n", "ingest/x.py")  # siblings do not import each other
    lazy = 'from askdocs.registry import Registry\nR = Registry("store", {"x": "tuning.adapt:adapt"})\n'
    assert layer_violations(lazy, "retrieval/s.py")[0].startswith("retrieval/s.py:2: import tuning.adapt")
    dynamic = 'import importlib\nimportlib.import_module("eval.metrics")\n'
    assert layer_violations(dynamic, "generation/x.py")
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from generation.backends import G\n"
    assert layer_violations(typed, "retrieval/x.py")
    # importing the composition root is importing what it imports
    assert layer_violations("from askdocs import runtime\n", "retrieval/x.py", frozenset({"generation"}))
    assert not layer_violations("from askdocs import runtime\n", "app/x.py", frozenset({"generation"}))


def test_the_composition_root_is_the_one_exception() -> None:
    wiring = "from eval.runner import x\nfrom ingest.pipeline import Ingestor\nfrom tuning import adapt\n"
    assert not layer_violations(wiring, COMPOSITION_ROOT)
    assert layer_violations(wiring, "askdocs/settings.py")
    assert layer_violations("from app.services import services\n", COMPOSITION_ROOT)
    assert layer_violations("import bench.foundation\n", COMPOSITION_ROOT)


def test_a_command_line_may_build_its_parts_with_the_composition_root_but_nothing_more() -> None:
    uses_root, root = "from askdocs.runtime import Runtime\n", frozenset({"ingest", "generation"})
    assert not layer_violations(uses_root, "ingest/__main__.py", root)
    assert layer_violations(uses_root, "ingest/pipeline.py", root)  # a library module may not
    assert layer_violations("from generation.pipeline import AnswerPipeline\n", "ingest/__main__.py")


def test_allowed_imports_and_tests_pass() -> None:
    fine = "from askdocs.settings import Settings\nfrom retrieval.hybrid import Hybrid\nfrom . import x\n"
    assert not layer_violations(fine, "generation/pipeline.py")
    assert not layer_violations("import retrieval.bm25\nimport numpy\n", "retrieval/x.py")  # own, third party
