"""The commands written in README.md, docs/ and the model card run as written (the short ones;
`python scripts/check_docs.py --long` runs training, search and benchmarks too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import check_docs  # noqa: E402


def test_the_checker_finds_the_quick_start_and_can_fail():
    cmds = [c for f in check_docs.doc_files(REPO) for _, c, _ in check_docs.extract(f)]
    quick = next(c for c in cmds if "Global.infer_imgs=../shared/data/demo/objects365_02035329.jpg" in c)
    assert check_docs.classify(quick) == ("short", "")
    assert check_docs.short_form(quick).startswith("personcls predict")
    good = "objects365_02035329.jpg:\tclass id(s): [1, 0], score(s): [1.00, 0.00], label_name(s): ['someone', 'nobody']"
    assert check_docs.check_output("personcls predict x.jpg", good) == ""
    assert "line format" in check_docs.check_output("personcls predict x.jpg", "Traceback (most recent call last):")
    assert check_docs.classify("personcls train -c PPLCNet_x1_0.yaml")[0] == "long"


def test_short_doc_commands_run_as_written(data_dir):
    p = subprocess.run([sys.executable, str(REPO / "scripts" / "check_docs.py")], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "all run commands passed" in p.stdout and "FAIL" not in p.stdout
