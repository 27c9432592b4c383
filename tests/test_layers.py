"""The layers of docs/architecture.md, enforced: a module imports only from its own
layer or the layers below it. Every module of the package is walked (pkgutil) and
read (ast), function-level imports included, so a new module or a lazy import
cannot slip past a hand-kept list."""

from __future__ import annotations

import ast
import functools
import pkgutil
from pathlib import Path

import loomtui

# Bottom first. A package (loomtui.<name>) or top-level module sits in one layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("loomtui", "text", "places", "config", "tmux"),  # shared helpers: stdlib only
    ("store", "policy"),  # the pod's store and the policy language
    ("memory", "supervisors", "git", "ingest"),  # on top of the store
    ("hooks", "notify"),  # the agents' way in (reads memory for SessionStart); what reaches people
    ("sim", "actions", "service"),  # the simulated pod drives the hooks; the console's pod actions; the pod service
    ("tui",),  # the console: the only UI
    ("commands",),  # one module per command; `console` and `demo` start the UI
    ("cli", "__main__"),  # parsing and dispatch
)


@functools.cache
def all_modules() -> tuple[str, ...]:
    """Every module of the package, by walking it (never by a list kept by hand)."""
    names = ["loomtui"]
    names += [info.name for info in pkgutil.walk_packages(loomtui.__path__, "loomtui.")]
    return tuple(sorted(names))


def group_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "loomtui"


def layer_of(module: str) -> int:
    group = group_of(module)
    for index, members in enumerate(LAYERS):
        if group in members:
            return index
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS in {__file__}")


def source_of(module: str) -> Path:
    spec = pkgutil.get_loader(module) if module != "loomtui" else None
    if module == "loomtui":
        return Path(loomtui.__file__)
    return Path(spec.get_filename())  # type: ignore[union-attr]


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every loomtui import in the module, at any depth."""
    path = source_of(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from loomtui import x` imports the module loomtui.x when there is one
            names = [f"{target}.{alias.name}" for alias in node.names]
            found += [(node.lineno, n if n in all_modules() else target) for n in names]
    return [(line, name) for line, name in found if name == "loomtui" or name.startswith("loomtui.")]


def test_every_module_has_a_layer() -> None:
    assert len(all_modules()) > 50
    for module in all_modules():
        layer_of(module)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = []
    for module in all_modules():
        for line, target in imports_of(module):
            if layer_of(target) > layer_of(module):
                upward.append(f"{source_of(module).relative_to(Path(loomtui.__file__).parents[1])}:{line}: "
                              f"{module} ({group_of(module)}) imports {target} ({group_of(target)})")
    assert upward == [], "imports that run up the layers:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch) -> None:
    """The contract can fail: a store module importing the console is caught, and so is
    an import hidden inside a function."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from loomtui.tui.app import LoomApp\n")
    monkeypatch.setattr(f"{__name__}.source_of", lambda module: source)
    assert imports_of("loomtui.store.probe") == [(2, "loomtui.tui.app")]
    assert layer_of("loomtui.tui.app") > layer_of("loomtui.store.probe")


def test_the_layers_named_in_the_architecture_exist() -> None:
    groups = {group_of(m) for m in all_modules()}
    named = {g for layer in LAYERS for g in layer}
    assert named == groups, (named - groups, groups - named)


def test_every_package_is_in_the_distribution() -> None:
    """pyproject.toml lists the packages a regular install ships; a new sub-package left out
    works from the editable checkout and fails (ModuleNotFoundError) once installed."""
    import tomllib

    root = Path(loomtui.__file__).parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {name for name in all_modules() if source_of(name).name == "__init__.py"}
    assert packages - listed == set(), f"add to [tool.setuptools] packages: {sorted(packages - listed)}"
