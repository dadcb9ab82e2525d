"""The package's layering, read from its source: no import circle, and the
low layers (settings, pixel ranges, metric names) keep models out of the
input pipeline and the settings out of the evaluation."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gan_zoo")


def _modules() -> dict[str, str]:
    """Dotted name -> path of every module of gan_zoo."""
    found = {}
    for directory, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = os.path.relpath(path[:-3], os.path.dirname(PACKAGE)).replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: str, modules) -> set[str]:
    """The gan_zoo modules ``name`` imports anywhere in its file, at module
    level or inside a function (a lazy import closes a circle just the same)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + [base] if base else parent)
            # ``from gan_zoo import config`` imports a module, ``from
            # gan_zoo.config import Config`` a name of one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


GRAPH = {name: _imports(name, path, _modules()) for name, path in _modules().items()}


def _cycle(graph):
    """One import circle of ``graph`` (module -> modules it imports) as
    [a, b, ..., a], or None."""
    state = {}  # name -> "open" while on the path, "done" after

    def visit(name, path):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return None


def test_the_reader_sees_imports_in_functions_and_relative_ones():
    assert "gan_zoo.onnx_export" in GRAPH["gan_zoo.training"]  # imported inside a function
    assert "gan_zoo.models.base" in GRAPH["gan_zoo.models.gan"]
    assert "gan_zoo.settings" in GRAPH["gan_zoo.models.base"]


def test_a_circle_through_other_modules_is_found():
    graph = {"config": {"registry"}, "registry": {"models"}, "models": {"config"}, "errors": set()}
    assert _cycle(graph) == ["config", "registry", "models", "config"]
    assert _cycle({**graph, "models": {"errors"}}) is None


def test_no_module_imports_one_that_imports_it_back():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH))


def _reach(graph, name) -> set[str]:
    """Every module ``name`` imports, directly or through others."""
    seen, todo = set(), [name]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_reach_follows_imports_through_other_modules():
    graph = {"models": {"pixels"}, "pixels": {"datasets"}, "datasets": set()}
    assert _reach(graph, "models") == {"pixels", "datasets"}


# Models stand on gan_zoo/pixels.py and gan_zoo/label_errors.py, not on the
# input pipeline or the evaluation; the settings (config) know no model,
# dataset or registry, which resolves names where the driver meets it; and
# neither reaches the evaluation. Through other modules too: a knot moved one
# module along is still a knot.
@pytest.mark.parametrize(
    "importer, forbidden",
    [
        ("gan_zoo.models.", ("gan_zoo.datasets", "gan_zoo.evaluation", "gan_zoo.registry")),
        ("gan_zoo.config", ("gan_zoo.registry", "gan_zoo.models", "gan_zoo.datasets")),
        ("gan_zoo.config", ("gan_zoo.evaluation",)),
        ("gan_zoo.registry", ("gan_zoo.evaluation", "gan_zoo.training")),
    ],
)
def test_layers(importer, forbidden):
    wrong = {
        name: sorted(t for t in _reach(GRAPH, name) if t.startswith(forbidden))
        for name in GRAPH
        if name.startswith(importer)
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_every_model_file_reads_in_one_sitting():
    directory = os.path.join(PACKAGE, "models")
    lengths = {
        name: sum(1 for _ in open(os.path.join(directory, name)))
        for name in os.listdir(directory)
        if name.endswith(".py")
    }
    assert not {name: n for name, n in lengths.items() if n >= 400}
