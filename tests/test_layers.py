"""Imports only go down: supervised -> envs -> agents -> lectures -> gymlab -> bench.

Every .py file of those packages is parsed (never imported) and every import in it, at the top
or inside a function (and every module it imports by a constant name), is checked: a package
imports only from itself and those to its left.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS: tuple[str, ...] = ("supervised", "envs", "agents", "lectures", "gymlab", "bench")
"""The project's packages, lowest first."""


def imported_modules(tree: ast.AST, file_package: str) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` for every import in ``tree``, wherever it stands, and for
    every module imported by a constant name (``importlib.import_module``, ``__import__``, a
    gymnasium ``entry_point="module:Class"``).

    ``file_package`` is the dotted package the file belongs to (``agents`` for ``agents/ppo.py``
    and ``agents/__init__.py``, ``envs.sub`` for ``envs/sub/x.py``); it resolves relative imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:  # relative: from the file's package, then up one package per extra dot
                parts = file_package.split(".")
                base = parts[: max(len(parts) - (node.level - 1), 0)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, name))
        elif isinstance(node, ast.Call):  # imports by name: import_module("m"), entry_point="m:Class"
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            named = [node.args[0]] if function in ("import_module", "__import__") and node.args else []
            named += [k.value for k in node.keywords if k.arg == "entry_point"]
            found += [
                (node.lineno, arg.value.split(":")[0])
                for arg in named
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
    return found


def layering_violations(sources: dict[str, str]) -> list[str]:
    """The imports in ``sources`` (relative path -> code) that go up the layers, one line each:
    ``path:line: package imports higher.module``."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    violations = []
    for path, code in sorted(sources.items()):
        parts = Path(path).with_suffix("").parts
        package = parts[0]
        if package not in rank:
            continue
        for line, name in imported_modules(ast.parse(code, filename=path), ".".join(parts[:-1])):
            top = name.split(".")[0]
            if top in rank and rank[top] > rank[package]:
                violations.append(f"{path}:{line}: {package} imports {name}")
    return violations


def project_sources(root: Path = ROOT) -> dict[str, str]:
    """Relative path -> code of every .py file in the layered packages that exist under ``root``."""
    sources = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []:
            sources[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return sources


def test_imports_only_go_down():
    sources = project_sources()
    assert any(path.startswith("agents/") for path in sources), "the packages were not found"
    violations = layering_violations(sources)
    assert not violations, "imports that go up the layers (move the thing down instead):\n" + "\n".join(violations)


def test_an_upward_import_is_caught_wherever_it_stands():
    sources = {
        "agents/ok.py": "import envs\nfrom supervised.datasets import load_task\nimport torch\nfrom agents import base\n",
        "agents/top.py": "from gymlab.play import load_player\n",
        "agents/inner.py": "def f():\n    import bench.common\n    return bench\n",
        "envs/sub/deep.py": "class C:\n    def m(self):\n        from agents.ppo import PPO\n",
        "supervised/x.py": "import lectures.one as lecture\n",
        "lectures/fine.py": "import agents, envs, supervised\n",
        "gymlab/up.py": "from bench import common\n",
        "bench/fine.py": "from gymlab.cli import main\n",
        "tests/anything.py": "import bench\n",  # not a layered package
        "envs/by_name.py": "import importlib\nimportlib.import_module('gymlab.cli')\n",
        "envs/registered.py": "import gymnasium as gym\ngym.register('x/X-v0', entry_point='agents.fake:Env')\n",
        "agents/by_name_ok.py": "import importlib\nimportlib.import_module(name)\n__import__('envs.make')\n",
    }
    assert layering_violations(sources) == [
        "agents/inner.py:2: agents imports bench.common",
        "agents/top.py:1: agents imports gymlab.play",
        "envs/by_name.py:2: envs imports gymlab.cli",
        "envs/registered.py:2: envs imports agents.fake",
        "envs/sub/deep.py:3: envs imports agents.ppo",
        "gymlab/up.py:1: gymlab imports bench",
        "supervised/x.py:1: supervised imports lectures.one",
    ]


def test_relative_imports_resolve_within_the_package():
    sources = {
        "agents/rel.py": "from . import base\nfrom .ppo import PPO\n",
        "envs/__init__.py": "from .make import x\n",
    }
    assert layering_violations(sources) == []
    assert imported_modules(ast.parse("from .ppo import PPO"), "agents") == [(1, "agents.ppo")]
    assert imported_modules(ast.parse("from .. import make"), "envs.sub") == [(1, "envs")]


def test_a_missing_package_is_skipped(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.py").write_text("import gymlab\n")
    assert list(project_sources(tmp_path)) == ["agents/a.py"]  # no lectures/ (nor the rest): no error
    assert layering_violations(project_sources(tmp_path)) == ["agents/a.py:1: agents imports gymlab"]
