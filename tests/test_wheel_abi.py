"""What the wheel's manylinux tag rests on, checked on the installed extension (no wheel build:
scripts/build_wheel.sh builds, repairs and audits the wheel itself, too slow for the suite).

- The extension names only libraries of the manylinux policy, plus libopenvino, which stays
  outside the wheel (the `openvino` wheel is a declared dependency) and is found through the
  RUNPATH into that wheel.
- cpp/wheel_compat.h binds std::condition_variable::wait to its original symbol version: GCC 12's
  libstdc++ would otherwise add GLIBCXX_3.4.30, which lifts the wheel from manylinux_2_34 to 2_35.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF / manylinux: Linux only")

# auditwheel's manylinux policy libraries that a C++ extension can name (x86-64)
POLICY_LIBS = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2",
               "librt.so.1", "ld-linux-x86-64.so.2"}


def _extension():
    spec = importlib.util.find_spec("personcls._native")
    if spec is None or not spec.origin:
        pytest.skip("personcls._native is not built")
    return spec.origin


def _tool(name, *args):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} (binutils) not found")
    return subprocess.run([exe, *args], check=True, capture_output=True, text=True).stdout


def test_extension_names_only_policy_libraries_and_libopenvino():
    import personcls

    dyn = _tool("readelf", "-d", _extension())
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]", dyn)
    assert needed, dyn
    info = personcls.build_info()
    outside = {n for n in needed - POLICY_LIBS if not n.startswith("libopenvino.so.")}
    assert not outside, f"the extension needs libraries a manylinux wheel would have to bundle: {sorted(outside)}"
    if "openvino" in info["features"]:
        assert any(n.startswith("libopenvino.so.") for n in needed)
        assert runpath and "$ORIGIN/../openvino/libs" in runpath[0].split(":"), runpath


def test_condition_variable_wait_keeps_its_original_symbol_version():
    syms = _tool("objdump", "-T", _extension())
    waits = [line for line in syms.splitlines() if "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE" in line]
    assert waits, "the extension no longer calls std::condition_variable::wait: drop cpp/wheel_compat.h"
    for line in waits:
        assert "GLIBCXX_3.4.11" in line, line
