"""The house rules of docs/architecture.md, read from the imports (ast): a newcomer's map stays true.

- `core/` is plumbing and imports no app.
- The domain layers (models, services, selectors, tasks, locks and their helpers) import only lower apps'
  domain layers: consumers, merchants → allowance → refunds. No cycle is possible.
- The web layer (views, api/, admin, forms, urls, management commands, templatetags) may use any app's domain
  layer, never another app's web layer; no domain module imports a web module.
- Rows are locked only in the lock modules.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Higher imports lower, never the reverse; equal ranks do not import each other.
RANK = {"core": 0, "consumers": 1, "merchants": 1, "allowance": 2, "refunds": 3}
WEB = {"views", "api", "admin", "forms", "urls", "management", "templatetags", "apps", "charts"}


def _modules():
    for app in RANK:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            yield ".".join(p for p in parts if p != "__init__"), path


def _layer(module: str) -> str:
    parts = module.split(".")
    return "web" if len(parts) > 1 and parts[1] in WEB else "domain"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                # `from allowance import services` names a module; `from allowance.models import Wallet` does not
                candidate = f"{node.module}.{alias.name}"
                spec = ROOT / Path(*candidate.split("."))
                yield node.lineno, candidate if spec.with_suffix(".py").exists() or spec.is_dir() else node.module


def _violations():
    found = set()
    for module, path in _modules():
        app, layer = module.split(".")[0], _layer(module)
        for line, imported in _imports(path):
            other = imported.split(".")[0]
            if other in {"api", "config"} and layer == "domain" and imported not in {"config.cache"}:
                found.add(f"{path.relative_to(ROOT)}:{line} imports {imported}: a domain module imports the web layer")
                continue
            if other not in RANK or (other == "core" and app != "core"):
                continue  # core is everyone's plumbing, its web pieces included
            where = f"{path.relative_to(ROOT)}:{line} imports {imported}"
            if app == "core" and other != "core":
                found.add(f"{where}: core imports no app")
            elif other == app:
                if app != "core" and layer == "domain" and _layer(imported) == "web":
                    found.add(f"{where}: a domain module imports its app's web layer")
            elif _layer(imported) == "web":
                found.add(f"{where}: {layer} layer imports another app's web layer")
            elif layer == "domain" and RANK[other] >= RANK[app]:
                found.add(f"{where}: {app}'s domain layer imports {other}, which builds on it")
    return sorted(found)


def test_the_apps_import_one_way_and_no_web_layer_imports_another_apps():
    assert _violations() == []


def test_the_check_itself_catches_an_upward_and_a_web_to_web_import(tmp_path, monkeypatch):
    # given a domain module of allowance that imports refunds, and a refunds view that imports allowance's API
    fake_root = tmp_path
    for app in RANK:
        (fake_root / app).mkdir()
        (fake_root / app / "__init__.py").write_text("")
    (fake_root / "allowance" / "api").mkdir()
    (fake_root / "allowance" / "api" / "__init__.py").write_text("")
    (fake_root / "allowance" / "api" / "serializers.py").write_text("")
    (fake_root / "refunds" / "models.py").write_text("")
    (fake_root / "allowance" / "services.py").write_text("from refunds.models import Refund\n")
    (fake_root / "refunds" / "views.py").write_text("from allowance.api import serializers\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake_root)
    # when the imports are read, then both are reported
    problems = _violations()
    assert any("allowance/services.py:1" in p and "builds on it" in p for p in problems)
    assert any("refunds/views.py:1" in p and "web layer" in p for p in problems)


@pytest.mark.parametrize("needle", ["select_for_update"])
def test_rows_are_locked_only_in_the_lock_modules(needle):
    outside = [
        f"{path.relative_to(ROOT)}"
        for module, path in _modules()
        if needle in path.read_text() and not module.endswith(".locks")
    ]
    assert outside == []
