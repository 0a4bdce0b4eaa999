"""The external-teacher tests (tests/teachers_cases.py), each run in a fresh interpreter.

Running OpenVINO's Python runtime (the teachers) in the pytest process beside the tests that fork
Paddle loader workers crashed that process (exit 139) in 4 of 7 runs here, at varying tests, while
every test passed on its own and real trainings with external teachers and forked loader workers
ran for hours. Until that is understood, the teacher tests get a process of their own, so a crash
there fails those tests instead of killing the whole run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CASES = HERE / "teachers_cases.py"


def _case_names():
    import ast

    tree = ast.parse(CASES.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


@pytest.mark.parametrize("case", _case_names())
def test_external_teachers(case, tmp_path):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(HERE.parent),
                        "-o", f"cache_dir={tmp_path}", f"{CASES}::{case}"], cwd=HERE.parent,
                       capture_output=True, text=True, timeout=600)
    out = r.stdout[-6000:] + r.stderr[-3000:]
    if r.returncode == 0 and " skipped" in r.stdout and " passed" not in r.stdout:
        pytest.skip(out.strip().splitlines()[-1])
    assert r.returncode == 0, out
