from workflows import SHIPPED_DIR


def test_check_passes_for_the_shipped_definitions(runner):
    result = runner.invoke(args=["workflows", "check"])
    assert result.exit_code == 0, result.output
    assert "ok: 4 file(s) checked" in result.output


def test_check_prints_every_problem_of_a_file_and_exits_1(runner, tmp_path):
    broken = (SHIPPED_DIR / "standard.toml").read_text()
    broken = broken.replace('stage = "triage"', 'stage = "limbo"', 1)
    broken = broken.replace('roles = ["reviewer", "lead", "admin"]', 'roles = ["janitor"]', 1)
    path = tmp_path / "standard.toml"
    path.write_text(broken)
    result = runner.invoke(args=["workflows", "check", str(path)])
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("problem:")]
    assert len(problems) >= 2
    assert any("limbo" in p for p in problems) and any("janitor" in p for p in problems)


def test_check_covers_instance_overrides(app, runner):
    import os

    folder = os.path.join(app.instance_path, "workflows")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "standard.toml"), "w") as handle:
        handle.write('name = "standard"\nversion = 3\n')
    result = runner.invoke(args=["workflows", "check"])
    assert result.exit_code == 1 and "problem:" in result.output


def test_graph_in_both_formats(runner):
    mermaid = runner.invoke(args=["workflows", "graph", "standard", "--format", "mermaid"])
    assert mermaid.exit_code == 0 and mermaid.output.startswith("stateDiagram-v2")
    dot = runner.invoke(args=["workflows", "graph", "child_safety", "--format", "dot"])
    assert dot.exit_code == 0 and dot.output.lstrip().startswith("digraph")
    assert "report_submitted" in dot.output
    unknown = runner.invoke(args=["workflows", "graph", "nope"])
    assert unknown.exit_code == 2
