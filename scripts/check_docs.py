"""Run the shell commands written in README.md, docs/*.md and the model cards, as written,
from a fresh copy of the repository with ../shared beside it.

    python scripts/check_docs.py            # the short commands (CI runs these: tests/test_docs.py)
    python scripts/check_docs.py --long     # also the long ones (training, search, benchmarks, pip)
    python scripts/check_docs.py --list     # every command found, with its class, nothing run

A command is a line (backslash continuations joined) of a fenced ```bash / ```sh block or of
an indented code block whose first word is a program (personcls, python, python3, bash, pip,
visualdl). Each is run with ``bash -c`` in a copy of the working tree (the files git tracks
plus untracked, not ignored ones), so commands that write (output/, a model's personcls.json)
never touch the checkout. Classes:

- short: run by default; must exit 0. ``personcls predict`` lines must print the tutorial's
  line format (or JSON objects with --json); ``A && B`` where A is a ``pip install`` of this
  package runs only B (the package is already installed where this runs).
- long: training, search, benchmarks, pytest, quantize, pip: run with --long, with a
  per-command time limit (``--timeout``).
- skip: needs what this kind of machine does not have (a GPU, the Paddle Inference C++
  package, a download); listed with the reason, never run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from personcls.shared_data import data_root

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = ("personcls", "python", "python3", "bash", "pip", "visualdl")
LINE = re.compile(r"^[^\t]+:\tclass id\(s\): \[[\d, ]+\], score\(s\): \[[\d., ]+\], label_name\(s\): \[.*\]$")

SKIP = [  # (substring, reason)
    ("--gpus", "needs GPUs (paddle.distributed.launch)"),
    ("PADDLE_INFERENCE_DIR", "needs the Paddle Inference C++ package of a GPU box"),
    ("gpu_check", "needs an NVIDIA GPU"),
    ("Arch.pretrained=True", "downloads official weights (no internet here)"),
]
LONG = ("pip install", "pytest", "personcls train", "personcls search", "personcls export", "personcls infer",
        "personcls eval -c", "personcls eval   -c",
        "personcls quantize", "personcls benchmark", "bash benchmarks/", "python benchmarks/", "python3 benchmarks/", "visualdl",
        "scripts/build_wheel.sh")


def doc_files(root: Path) -> List[Path]:
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    files += sorted((root / "python" / "personcls" / "models").glob("*/MODEL_CARD.md"))
    return [f for f in files if f.is_file()]


def _is_command(text: str) -> bool:
    first = text.split(None, 1)[0] if text.strip() else ""
    return first in PROGRAMS or bool(re.match(r"^[A-Z_]+=\S* (personcls|python3?|bash) ", text))


def extract(path: Path) -> List[Tuple[int, str, str]]:
    """(line number, command, section heading) of every command in a Markdown file."""
    lines = path.read_text().splitlines()
    out: List[Tuple[int, str, str]] = []
    i, fence = 0, None
    heading = ""
    while i < len(lines):
        ln = lines[i]
        s = ln.strip()
        if fence is None and re.match(r"^#{1,6} ", ln):
            heading = ln.lstrip("#").strip()
        m = re.match(r"^(\s*)```(\w*)", ln)
        if m and fence is None:
            fence = m.group(2) or "plain"
            i += 1
            continue
        if m and fence is not None:
            fence = None
            i += 1
            continue
        in_code = (fence in ("bash", "sh", "shell", "plain")) or (fence is None and prev_blank_block(lines, i))
        if in_code and s and not s.startswith("#") and _is_command(s):
            start, cmd = i + 1, s
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1].rstrip() + " " + lines[i].strip()
            here = re.search(r"<<-?'?(\w+)'?\s*$", cmd)
            if here:  # a here-document: its lines up to the terminator belong to the command
                indent = len(ln) - len(ln.lstrip())
                body = []
                while i + 1 < len(lines) and lines[i + 1].strip() != here.group(1):
                    i += 1
                    body.append(lines[i][indent:])
                i += 1
                cmd = "\n".join([cmd, *body, here.group(1)])
            out.append((start, cmd, heading))
        i += 1
    return out


def prev_blank_block(lines: List[str], i: int) -> bool:
    """Line i is inside an indented (4-space) code block that follows a blank line."""
    if not lines[i].startswith("    ") or lines[i].lstrip().startswith(("-", "*", "|")):
        return False
    j = i
    while j > 0 and lines[j - 1].startswith("    "):
        j -= 1
    return j == 0 or not lines[j - 1].strip()


def classify(cmd: str, heading: str = "") -> Tuple[str, str]:
    if "GPU" in heading:
        return "skip", f"a GPU box's steps (section '{heading}')"
    for sub, why in SKIP:
        if sub in cmd:
            return "skip", why
    parts = [p.strip() for p in cmd.split("&&")]
    rest = [p for p in parts if not re.match(r"^python3? -m pip install (\.|\"\.\[\w+\]\")$", p)]
    if any(any(k in p for k in LONG) for p in rest):
        return "long", ""
    return "short", ""


def short_form(cmd: str) -> str:
    """``pip install . && X`` -> ``X`` (the package is installed where this runs)."""
    parts = [p.strip() for p in cmd.split("&&")]
    return " && ".join(p for p in parts if not re.match(r"^python3? -m pip install (\.|\"\.\[\w+\]\")$", p))


def fresh_copy(dest: Path) -> Path:
    """The working tree as a fresh clone has it (tracked + untracked, not ignored), with the
    shared data folder linked beside it as ../shared/data."""
    clone = dest / "personcls"
    try:
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked sdist)
        files = [str(f.relative_to(REPO)) for f in REPO.rglob("*")
                 if f.is_file() and not {".git", "build", "dist", "output", "__pycache__"} & set(f.relative_to(REPO).parts)]
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (clone / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / f)
    data = data_root(REPO)
    if data.exists():  # as ../shared/data, the path the docs write
        (dest / "shared").mkdir()
        (dest / "shared" / "data").symlink_to(data.resolve())
    return clone


def check_output(cmd: str, out: str) -> str:
    """'' if the output has the form the command promises, else what is wrong."""
    if not re.search(r"(^|&& )personcls predict", cmd) or "--print-config" in cmd or "--help" in cmd:
        return ""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if not lines:
        return "printed nothing"
    if "--json" in cmd:
        import json

        try:
            [json.loads(ln) for ln in lines]
        except ValueError as e:
            return f"not JSON lines: {e}"
        return ""
    bad = [ln for ln in lines if not LINE.match(ln)]
    return f"not the tutorial's line format: {bad[0]!r}" if bad else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--long", action="store_true", help="also run the long commands")
    ap.add_argument("--list", action="store_true", help="list the commands and their class; run nothing")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per short command (120)")
    ap.add_argument("--long-timeout", type=float, default=1800.0, help="seconds per long command (1800)")
    ap.add_argument("--only", default=None, help="run only commands containing this text")
    a = ap.parse_args(argv)

    found = [(f, n, c, *classify(c, h)) for f in doc_files(REPO) for n, c, h in extract(f)]
    if a.only:
        found = [x for x in found if a.only in x[2]]
    if a.list:
        for f, n, c, kind, why in found:
            print(f"{kind:5s} {f.relative_to(REPO)}:{n}: {c.splitlines()[0]}" + (f"   [{why}]" if why else ""))
        return 0
    failed = 0
    with tempfile.TemporaryDirectory(prefix="personcls-docs-") as tmp:
        clone = fresh_copy(Path(tmp))
        # the interpreter running this (and its console scripts) first on PATH
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        for f, n, c, kind, why in found:
            where = f"{f.relative_to(REPO)}:{n}"
            if kind == "skip" or (kind == "long" and not a.long):
                print(f"SKIP  {where}: {c}   [{why or 'long: --long runs it'}]")
                continue
            run = c if kind == "long" else short_form(c)
            t0 = time.time()
            try:
                p = subprocess.run(["bash", "-c", run], cwd=clone, capture_output=True,
                                   text=True, env=env, timeout=a.long_timeout if kind == "long" else a.timeout)
                rc, out, err = p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired as e:
                rc, out, err = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
                    else (e.stdout or ""), f"timed out after {e.timeout:.0f} s"
            problem = f"exit status {rc}" if rc != 0 else check_output(run, out)
            status = "FAIL" if problem else "ok"
            print(f"{status:5s} {where}: {run}  ({time.time() - t0:.1f} s)")
            if problem:
                failed += 1
                print(f"      {problem}\n      stdout: {out[-800:]!r}\n      stderr: {err[-1500:]!r}")
    print(f"{failed} failed" if failed else "all run commands passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
