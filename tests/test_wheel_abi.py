"""What the wheel's manylinux tag rests on, checked on the installed extension (no wheel build:
scripts/build_wheel.sh builds, repairs and audits the wheel itself, too slow for the suite).

- The extension names only libraries of the manylinux policy: OpenVINO is not linked but loaded at
  run time (libopenvino_c of the `openvino` wheel, a declared dependency; cpp/src/runtime_openvino.cpp),
  so plain `auditwheel show` accepts the wheel.
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


def test_extension_names_only_policy_libraries():
    import personcls

    dyn = _tool("readelf", "-d", _extension())
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    assert needed, dyn
    outside = needed - POLICY_LIBS
    assert not outside, f"the extension needs libraries a manylinux wheel would have to bundle: {sorted(outside)}"
    assert not re.search(r"\((?:RUNPATH|RPATH)\)", dyn), "no run path is needed: OpenVINO is opened by path"
    if "openvino" in personcls.build_info()["features"]:
        # ... and the engine still finds OpenVINO: the C library of the openvino package.
        lib = personcls._native.openvino_library()
        assert re.search(r"/openvino/libs/libopenvino_c\.so", lib), lib


def test_condition_variable_wait_keeps_its_original_symbol_version():
    syms = _tool("objdump", "-T", _extension())
    waits = [line for line in syms.splitlines() if "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE" in line]
    assert waits, "the extension no longer calls std::condition_variable::wait: drop cpp/wheel_compat.h"
    for line in waits:
        assert "GLIBCXX_3.4.11" in line, line
