"""The suite's own rules, read from the source (AST):

- a test module never imports another test module or conftest: shared code lives in tests/helpers;
- a test that starts the app as a process (``start_server``, ``ServerProcess``, or a fixture or
  helper of its module that does) is marked ``server``; one that drives Chromium (the ``browser``
  fixture, ``chromium()``) is marked ``browser`` -- on the test or in the module's ``pytestmark``.

Each rule is also run on a small bad example, so the checks are shown to be able to fail."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.rglob("test_*.py"))  # tests/faults too

# what starts a server process / a browser, as names a test module uses
SERVER_NAMES = {"start_server", "ServerProcess"}
BROWSER_NAMES = {"browser", "chromium"}


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def import_problems(source: str) -> list[str]:
    """Imports of a test module or conftest anywhere in ``source`` (nested imports too)."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base] if base and _is_test_module(base) else [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        problems += [f"line {node.lineno}: imports {name.lstrip('.')}" for name in names if _is_test_module(name)]
    return problems


def _marks(decorators: list[ast.expr]) -> set[str]:
    """Marker names in decorators or a pytestmark value: ``pytest.mark.X`` and ``pytest.mark.X(...)``."""
    found = set()
    for expr in decorators:
        for node in ast.walk(expr):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "mark":
                found.add(node.attr)
    return found


def _used_names(function: ast.FunctionDef) -> set[str]:
    """A function's parameters (fixtures) and the outside names it reads (its body, nested functions and
    annotations included; a local variable is not a use of a fixture or function of that name)."""
    names = [node for node in ast.walk(function) if isinstance(node, ast.Name)]
    local = {node.id for node in names if not isinstance(node.ctx, ast.Load)}
    return ({arg.arg for arg in function.args.args + function.args.kwonlyargs}
            | {node.id for node in names if isinstance(node.ctx, ast.Load)} - local)


def _starting(functions: dict[str, ast.FunctionDef], direct: set[str]) -> set[str]:
    """``direct`` and the module's functions (fixtures, helpers) that use any of them, transitively."""
    starting = set(direct)
    while True:
        more = {name for name, function in functions.items()
                if name not in starting and _used_names(function) & starting}
        if not more:
            return starting
        starting |= more


def marker_problems(source: str) -> list[str]:
    """Tests in ``source`` that start a server process or a browser without the matching marker."""
    tree = ast.parse(source)
    module_marks: set[str] = set()
    functions: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            module_marks |= _marks([node.value])
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = node
    # a function of the module named like a shared fixture (a local ``browser`` fixture) counts as one
    servers, browsers = _starting(functions, SERVER_NAMES), _starting(functions, BROWSER_NAMES)
    problems = []
    for name, function in functions.items():
        if not name.startswith("test_"):
            continue
        used, marks = _used_names(function), module_marks | _marks(function.decorator_list)
        for marker, starting in (("server", servers), ("browser", browsers)):
            if used & starting and marker not in marks:
                problems.append(f"{name} uses {', '.join(sorted(used & starting))} but is not marked {marker}")
    return problems


@pytest.mark.parametrize("path", MODULES + [TESTS / "conftest.py"], ids=lambda path: path.name)
def test_no_test_module_imports_another_or_conftest(path):
    assert import_problems(path.read_text()) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_every_test_that_starts_a_server_or_a_browser_is_marked(path):
    assert marker_problems(path.read_text()) == []


def test_the_helpers_import_no_test_module():
    for path in sorted((TESTS / "helpers").glob("*.py")):
        assert import_problems(path.read_text()) == [], path.name


def test_the_checks_catch_what_they_are_for():
    assert import_problems("import tests.test_browser as foundation\n") == ["line 1: imports tests.test_browser"]
    assert import_problems("from tests import test_browser\n") == ["line 1: imports tests.test_browser"]
    assert import_problems("from tests.conftest import free_port\n") == ["line 1: imports tests.conftest"]
    assert import_problems("def f():\n    from .test_tick import seqs\n") == ["line 2: imports test_tick"]
    assert import_problems("from tests.helpers.ticks import seqs\nimport test_helpers_x\n") == [
        "line 2: imports test_helpers_x"]
    assert import_problems("from tests.helpers.ticks import seqs\nfrom tests import helpers\n") == []

    unmarked = '''
import pytest
from tests.helpers.processes import ServerProcess

def deployment_of(tmp):
    return ServerProcess([], {}, 0, tmp)

@pytest.fixture
def deployment(tmp_path):
    yield deployment_of(tmp_path)

@pytest.fixture
def server(start_server):
    return start_server()

def test_via_fixture(deployment):
    pass

def test_direct(start_server, browser):
    pass

@pytest.mark.server
def test_half_marked(start_server, browser):
    pass

def test_in_process(dash_app):
    server = make_server(dash_app)  # a local variable, not the fixture
    server.serve_forever()
'''
    assert marker_problems(unmarked) == [
        "test_via_fixture uses deployment but is not marked server",
        "test_direct uses start_server but is not marked server",
        "test_direct uses browser but is not marked browser",
        "test_half_marked uses browser but is not marked browser",
    ]
    marked = "import pytest\npytestmark = [pytest.mark.server, pytest.mark.browser]\n" + unmarked.split("\n", 3)[3]
    assert marker_problems(marked) == []
