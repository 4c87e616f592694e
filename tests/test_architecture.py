"""The source's shape, checked over its AST: strict layers with no import loop, no reach into another package's
private modules, lazy imports only where start-up time needs them (each with a comment), and no model kind named
outside ``benchmark/kinds``.

The layers are declared here, lowest first; a unit (a package, or a top-level module of ``benchmark``) may import
only units of lower layers. Moving a unit between layers is a decision to make here, in review, not by accident.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "features", "models")

#: Lowest first, as import-linter's layers contract writes them. Each layer holds chains of units: a unit may import
#: any unit of a lower layer, and within its own layer only the units before it in its chain (``a : b`` in
#: import-linter's terms, ``b`` above ``a``); units of different chains in one layer never import each other.
LAYERS: tuple[tuple[tuple[str, ...], ...], ...] = (
    # 1 foundations: errors, files, console, the option declaration, pure metrics, the Keras backend's set-up
    (("benchmark",), ("benchmark.errors", "benchmark.tf_setup", "benchmark.backends"), ("benchmark.console",),
     ("benchmark.files",), ("benchmark.metrics",), ("benchmark.options",), ("benchmark.recipe",)),
    # 2 building blocks that know no run: data, features, models, leases, figures, selection, training, fold models
    (("benchmark.datasets",), ("features",), ("models",), ("benchmark.leases",), ("benchmark.figures",),
     ("benchmark.selection",), ("benchmark.training",), ("benchmark.saved_models",), ("benchmark.exported",)),
    # 3 what is evaluated how: protocols (splits), the shared evaluation writers; the speed benchmark
    (("benchmark.protocols",), ("benchmark.evaluation",), ("benchmark.perf",)),
    # 4 the run record: reader, writer, the checks every run passes
    (("benchmark.record",),),
    # 5 the plug-ins: model kinds, evaluation modes (then the verifier that runs their checks), run folders
    (("benchmark.kinds",), ("benchmark.evaluations", "benchmark.verification"), ("benchmark.runs",)),
    # 6 one experiment (its options resolved first); a run's models on photos; export; the report
    (("benchmark.resolution", "benchmark.experiment"), ("benchmark.predict",), ("benchmark.export",),
     ("benchmark.report",)),
    # 7 many experiments: suites, then suites on a cluster
    (("benchmark.suite", "benchmark.cluster"),),
    # 8 the command line (and its console-script shim, and `python -m benchmark`)
    (("benchmark.cli", "benchmark.entry", "benchmark.__main__"),),
)
LAYER_OF = {unit: k for k, layer in enumerate(LAYERS) for chain in layer for unit in chain}
#: (chain index, position) of a unit within its layer
PLACE = {unit: (c, i) for layer in LAYERS for c, chain in enumerate(layer) for i, unit in enumerate(chain)}


def allowed(importer: str, imported: str) -> bool:
    """Whether unit ``importer`` may import unit ``imported`` under :data:`LAYERS`."""
    if LAYER_OF[imported] != LAYER_OF[importer]:
        return LAYER_OF[imported] < LAYER_OF[importer]
    (chain_a, at_a), (chain_b, at_b) = PLACE[importer], PLACE[imported]
    return chain_a == chain_b and at_b < at_a
#: Third-party libraries whose import costs seconds (or is an optional extra): the only ones imported lazily.
HEAVY = {"tensorflow", "keras", "jax", "torch", "dlib", "tf2onnx", "onnx", "onnxruntime", "skl2onnx", "ai_edge_litert", "dask",
         "distributed", "dask_jobqueue", "cv2", "sklearnex", "matplotlib", "tomli"}
#: Model kinds' names, which only ``benchmark/kinds`` (and the record's reading of old runs) may compare.
KIND_NAMES = {"deep", "classical"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The project module an imported name belongs to (``benchmark.kinds._base`` for ``...kinds._base.X``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def unit(module: str) -> str:
    """The unit of the layer contract: ``features``/``models`` whole, ``benchmark.<sub>`` for a subpackage or a
    top-level module of ``benchmark``."""
    parts = module.split(".")
    if parts[0] in ("features", "models"):
        return parts[0]
    return ".".join(parts[:2])


def _imports(module: str) -> list[tuple[str, str, ast.stmt, bool]]:
    """(imported project module, imported name or "", node, inside a function) for every import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)  # `if TYPE_CHECKING:` blocks
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for n in ast.walk(block)}
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, "", node, id(node) in inside))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                candidate = f"{prefix}.{alias.name}"
                if candidate in MODULES:
                    found.append((candidate, "", node, id(node) in inside))
                else:
                    found.append((prefix, alias.name, node, id(node) in inside))
    return found


def _project_edges() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for module in MODULES:
        for name, _, _, _ in _imports(module):
            owner = _owner(name) if name.split(".")[0] in PACKAGES else None
            if owner and owner != module:
                edges[module].add(owner)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return out


def test_every_unit_has_a_layer():
    assert sorted({unit(m) for m in MODULES} - set(LAYER_OF)) == []
    assert len(LAYERS) <= 8


def test_no_import_loop_between_modules_lazy_imports_included():
    assert _cycles(_project_edges()) == []


def test_imports_point_down_the_layers_only():
    wrong = sorted(f"{m} imports {t} ({unit(m)} is in layer {LAYER_OF[unit(m)] + 1}, {unit(t)} in layer "
                   f"{LAYER_OF[unit(t)] + 1})" for m, targets in _project_edges().items() for t in targets
                   if unit(m) != unit(t) and not allowed(unit(m), unit(t)))
    assert wrong == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_reaches_into_another_packages_private_module_or_names():
    wrong = []
    for module in MODULES:
        for name, imported, node, _ in _imports(module):
            if name.split(".")[0] not in PACKAGES:
                continue
            owner = _owner(name) or name
            parts = owner.split(".")
            private_at = next((k for k, part in enumerate(parts) if _private(part)), None)
            if private_at is not None:
                package = ".".join(parts[:private_at])
                if not (module == package or module.startswith(package + ".")):
                    wrong.append(f"{module} imports {owner}")
            if imported and _private(imported):
                package = owner if MODULES[owner].name == "__init__.py" else owner.rpartition(".")[0]
                if not (module == owner or module.startswith(package + ".")):
                    wrong.append(f"{module} imports {imported} from {owner}")
    assert sorted(set(wrong)) == []


def test_lazy_imports_are_heavy_libraries_or_say_why():
    """An import inside a function is there for start-up time (TensorFlow, dlib, an optional extra...): it names
    a heavy library, or carries a comment on its line or the line above saying why."""
    unexplained = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for name, _, node, inside in _imports(module):
            if not inside or name.split(".")[0] in HEAVY:
                continue
            span = lines[max(0, node.lineno - 2):node.end_lineno]
            if not any("#" in line for line in span):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name} inside a function")
    assert sorted(set(unexplained)) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("benchmark.kinds")))
def test_no_model_kind_is_compared_by_name_outside_the_kinds(module):
    """Whatever differs between kinds lives in ``benchmark.kinds``: nobody else compares a kind's name, or names
    the kinds' classes."""
    tree = ast.parse(MODULES[module].read_text())
    compared = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for side in (node.left, *node.comparators)
                if isinstance(side, ast.Constant) and side.value in KIND_NAMES]
    named = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             for alias in node.names if alias.name in ("Classical", "Keras")]
    assert (compared, named) == ([], [])
