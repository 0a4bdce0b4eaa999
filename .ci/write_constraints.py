"""Write constraints.txt: the exact versions of everything `pip install ".[test]"` (and the
build) pulls in, as installed in the running environment.

    python3 -m pip install ".[test]" && python3 .ci/write_constraints.py > constraints.txt

.ci/run installs with `-c constraints.txt`, so CI tests the versions pinned here; its second
pass (.ci/run_newest) installs without it to see what the newest releases change.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

ROOTS = ["personcls[test]", "scikit-build-core", "pybind11"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots):
    seen, todo = {}, list(roots)
    while todo:
        req = todo.pop()
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*)", req)
        name, extras, rest = m.group(1), m.group(2), m.group(3)
        marker = rest.split(";", 1)[1] if ";" in rest else ""
        wanted = {e.strip() for e in extras[1:-1].split(",")} if extras else set()
        if marker and "extra" not in marker:
            from packaging.markers import Marker

            if not Marker(marker).evaluate():
                continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = _norm(dist.metadata["Name"])
        new_extras = wanted - seen.get(key, (None, set()))[1]
        if key in seen and not new_extras:
            continue
        seen[key] = (dist.version, seen.get(key, (None, set()))[1] | wanted)
        for r in dist.requires or []:
            if ";" in r and "extra" in r.split(";", 1)[1]:
                from packaging.requirements import Requirement

                req_obj = Requirement(r)
                if not any(req_obj.marker.evaluate({"extra": e}) for e in wanted):
                    continue
                todo.append(str(req_obj.name) + (f"[{','.join(req_obj.extras)}]" if req_obj.extras else ""))
            else:
                todo.append(r)
    return seen


def main() -> int:
    pins = closure(ROOTS)
    pins.pop("personcls", None)
    print("# Exact versions CI tests (.ci/run: pip install -c constraints.txt \".[test]\").")
    print("# Regenerate: python3 .ci/write_constraints.py > constraints.txt (after installing .[test]).")
    print(f"# Python {sys.version.split()[0]}, Linux x86-64.")
    for k in sorted(pins):
        print(f"{k}=={pins[k][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
