"""Imports run one way (DESIGN section 1), checked over the source of `cases/` and `workflows/`.

Ranks, top to bottom: entry points (views, forms, the API, CLI commands, jobs) → domain services →
the spine every service stands on (`lifecycle`, `trail`, the outbox and job runner) → models →
core plumbing → the vocabulary (`workflows`, which imports nothing of `cases`, and `cases.enums`,
which takes `Role` and `Stage` from it). A module may import its own rank or below, never above;
an entry point never imports another domain's entry points.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY, SERVICE, SPINE, MODELS, CORE, VOCABULARY = 5, 4, 3, 2, 1, 0
RANK_NAMES = {
    ENTRY: "entry point",
    SERVICE: "service",
    SPINE: "spine",
    MODELS: "models",
    CORE: "core",
    VOCABULARY: "vocabulary",
}
ENTRY_LEAVES = ("views", "forms", "cli", "jobs")
SPINE_PACKAGES = ("cases.lifecycle", "cases.trail", "cases.jobs")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rank(module: str) -> int:
    parts = module.split(".")
    leaf = parts[-1]
    if parts[0] == "workflows" or module == "cases.enums":
        return VOCABULARY
    if module.startswith("cases.core"):
        return CORE
    if leaf == "models":
        return MODELS
    # A domain's views.py, forms.py, cli.py or jobs.py (the package cases.jobs is not one).
    domain_module = len(parts) > 2 and leaf.endswith(ENTRY_LEAVES)
    if domain_module or module.startswith("cases.api") or module == "cases.demo":
        return ENTRY
    if module.startswith(SPINE_PACKAGES):
        return SPINE
    return SERVICE


def domain(module: str) -> str:
    return ".".join(module.split(".")[:2])


def sources() -> list[Path]:
    return sorted(p for package in ("cases", "workflows") for p in (ROOT / package).rglob("*.py"))


def imported(tree: ast.AST, known: set[str]) -> set[str]:
    """The project modules a file imports, at any depth (imports inside functions count)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from cases.core import db` imports the module cases.core.db; `from cases.core.db
            # import get_session` imports cases.core.db itself.
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in known] or [node.module]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def violations() -> list[str]:
    paths = sources()
    known = {module_name(p) for p in paths}
    problems = []
    for path in paths:
        importer = module_name(path)
        for target in imported(ast.parse(path.read_text(), str(path)), known):
            if importer.startswith(target + ".") or target == importer:
                continue  # a package's own __init__, or itself
            if importer.startswith("workflows") and target.startswith("cases"):
                problems.append(f"{importer} imports {target}: workflows imports nothing of cases")
            elif rank(target) > rank(importer):
                problems.append(
                    f"{importer} ({RANK_NAMES[rank(importer)]}) imports {target} "
                    f"({RANK_NAMES[rank(target)]}): upward"
                )
            elif rank(importer) == rank(target) == ENTRY and domain(importer) != domain(target):
                problems.append(f"{importer} imports another domain's entry point {target}")
    return problems


def test_imports_run_one_way():
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("cases.review.queue_views", ENTRY),
        ("cases.api.intake", ENTRY),
        ("cases.notices.jobs", ENTRY),
        ("cases.intake.forms", ENTRY),
        ("cases.decisions.service", SERVICE),
        ("cases.portal.links", SERVICE),
        ("cases.lifecycle.transitions", SPINE),
        ("cases.jobs.outbox", SPINE),
        ("cases.jobs.cli", ENTRY),
        ("cases.jobs", SPINE),
        ("cases.audit.jobs", ENTRY),
        ("cases.trail.store", SPINE),
        ("cases.models", MODELS),
        ("cases.trail.models", MODELS),
        ("cases.core.db", CORE),
        ("cases.enums", VOCABULARY),
        ("workflows.engine", VOCABULARY),
    ],
)
def test_every_module_has_the_rank_its_name_says(module, expected):
    assert rank(module) == expected


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """Not vacuous: a service importing a view, core importing a model, both are caught."""
    fake_root = tmp_path
    for name, text in {
        "cases/__init__.py": "",
        "cases/models.py": "",
        "cases/core/__init__.py": "",
        "cases/core/db.py": "from cases.models import Case\n",
        "cases/review/__init__.py": "",
        "cases/review/queue_views.py": "",
        "cases/review/claims.py": "def f():\n    from cases.review import queue_views\n",
        "workflows/__init__.py": "import cases.enums\n",
        "cases/enums.py": "",
    }.items():
        (fake_root / name).parent.mkdir(parents=True, exist_ok=True)
        (fake_root / name).write_text(text)
    monkeypatch.setattr(f"{__name__}.ROOT", fake_root)
    assert sorted(violations()) == [
        "cases.core.db (core) imports cases.models (models): upward",
        "cases.review.claims (service) imports cases.review.queue_views (entry point): upward",
        "workflows imports cases.enums: workflows imports nothing of cases",
    ]
