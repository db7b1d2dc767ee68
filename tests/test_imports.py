"""The library's import structure: no import cycle between modules of deepclust_core, and no streamlit in it.

The graph is built from the source (``ast``), so an import that only runs inside a function counts too (a cycle
there is just a later ImportError or a half-initialised module). Edges:

- ``import a.b`` and ``from a.b import name``: to module ``a.b``; ``from a import b`` where ``a.b`` is a module:
  to ``a.b``, otherwise (a name defined in ``a/__init__.py``) to the package ``a`` itself;
- relative imports are resolved against the importing module's package;
- a package's ``__init__`` has an edge to each submodule it imports (its re-exports), including the ones it
  imports by name with ``importlib.import_module(f"{__name__}.{...}")``. So a submodule that imports a name
  from its own package's ``__init__`` closes a cycle, and is reported.
"""
import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

PACKAGE = "deepclust_core"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

Edge = Tuple[str, int]  # (target module, line of the import in the source module)


def module_files(root: Path = ROOT) -> Dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> Optional[str]:
    """The absolute name a ``from ... import`` refers to (before its names)."""
    if not node.level:
        return node.module
    base = _package_of(module, path).split(".")
    if node.level - 1 > len(base) - 1:
        return None  # beyond the top-level package
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _dynamic_submodule_imports(module: str, path: Path, tree: ast.AST, modules: Dict[str, Path]) -> List[Edge]:
    """A package ``__init__`` that imports its submodules by name (``import_module(f"{__name__}.{m}")``)."""
    if path.name != "__init__.py":
        return []
    edges = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.JoinedStr)):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0].values[0] if node.args[0].values else None
        if name == "import_module" and isinstance(first, ast.FormattedValue) \
                and isinstance(first.value, ast.Name) and first.value.id == "__name__":
            edges += [(other, node.lineno) for other in modules
                      if other.rpartition(".")[0] == module and not other.rpartition(".")[2].startswith("_")]
    return edges


def import_graph(modules: Optional[Dict[str, Path]] = None) -> Dict[str, Dict[str, int]]:
    """module -> {imported module of the package: first line importing it}."""
    modules = module_files() if modules is None else modules
    graph: Dict[str, Dict[str, int]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: List[Edge] = []
        for node in ast.walk(tree):  # every import, at module level or inside a function or class
            if isinstance(node, ast.Import):
                edges += [(alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, path, node)
                if source is None:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    edges.append((submodule if submodule in modules else source, node.lineno))
        edges += _dynamic_submodule_imports(module, path, tree, modules)
        targets: Dict[str, int] = {}
        for target, line in sorted(edges, key=lambda edge: edge[1]):
            if target in modules and target != module:
                targets.setdefault(target, line)
        graph[module] = targets
    return graph


def find_cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """One cycle (a closed path of modules) per strongly connected component with more than one module."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def connect(node: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, {})):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(component, graph) for component in components]


def _cycle_in(component: List[str], graph: Dict[str, Dict[str, int]]) -> List[str]:
    """A shortest cycle through the component's first module (breadth first, inside the component)."""
    start, members = component[0], set(component)
    parents: Dict[str, Optional[str]] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node]):
            if target == start:
                path = [node]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return path[::-1] + [start]  # start -> ... -> node -> start
            if target in members and target not in parents:
                parents[target] = node
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # cannot happen in a strongly connected component


def describe(cycle: List[str], graph: Dict[str, Dict[str, int]]) -> str:
    steps = [f"{source} (line {graph[source][target]}) -> {target}" for source, target in zip(cycle, cycle[1:])]
    return " -> ".join(cycle) + "\n    " + "\n    ".join(steps)


def test_the_graph_sees_every_kind_of_import():
    modules = module_files()
    graph = import_graph(modules)
    assert len(modules) > 30 and PACKAGE in modules and f"{PACKAGE}.store.states" in modules
    assert f"{PACKAGE}.fileio" in graph[f"{PACKAGE}.store.states"]  # from .. import fileio
    assert f"{PACKAGE}.store.layout" in graph[f"{PACKAGE}.store.states"]  # from .layout import ...
    assert f"{PACKAGE}.store.manage" in graph[f"{PACKAGE}.store.execute"]  # inside a function
    assert f"{PACKAGE}.store" in graph[f"{PACKAGE}.jobs"]  # from . import store
    assert f"{PACKAGE}.store.states" in graph[f"{PACKAGE}.store"]  # a package's re-exports
    assert f"{PACKAGE}.methods.dgg" in graph[f"{PACKAGE}.methods"]  # imported by name in __init__


def test_find_cycles_names_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}, "e": {"e": 5}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def test_a_submodule_importing_its_own_package_is_a_cycle(tmp_path):
    files = {"pkg/__init__.py": "from .a import helper\nLIMIT = 3\n",
             "pkg/a.py": "def helper():\n    from . import LIMIT  # a name of the package's __init__\n"
                         "    return LIMIT\n",
             "pkg/b.py": "from . import a\n",  # a submodule, not the package: no cycle
             "pkg/sub/__init__.py": "",
             "pkg/sub/c.py": "from .. import b\nfrom ..b import a\nimport pkg.sub\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(module_files(tmp_path / "pkg"))
    assert graph == {"pkg": {"pkg.a": 1}, "pkg.a": {"pkg": 2}, "pkg.b": {"pkg.a": 1}, "pkg.sub": {},
                     "pkg.sub.c": {"pkg.b": 1, "pkg.sub": 3}}
    assert find_cycles(graph) == [["pkg", "pkg.a", "pkg"]]
    assert describe(["pkg", "pkg.a", "pkg"], graph).splitlines()[1:] == ["    pkg (line 1) -> pkg.a",
                                                                         "    pkg.a (line 2) -> pkg"]


def test_no_import_cycles_between_modules():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycle(s) in deepclust_core:\n" + "\n".join(
        describe(cycle, graph) for cycle in cycles)


def test_deepclust_core_never_imports_streamlit():
    found = []
    for module, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]  # importlib.import_module("streamlit"), __import__(...)
            found += [f"{path.relative_to(ROOT.parent)}:{node.lineno}: {name}" for name in names
                      if name.split(".")[0] == "streamlit"]
    assert found == [], "\n".join(found)
    # And at run time: importing every module of the library leaves streamlit unloaded.
    code = ("import importlib, sys\n"
            f"for name in {sorted(m for m in module_files() if not m.endswith('__main__'))!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
