"""Where the project's shared data folder is (real images, labeled lists, start weights,
teachers, video clips): ``$PERSONCLS_DATA`` when set, else ``shared/data`` beside the
repository checkout, i.e. ``../shared/data`` from the repository root, the path the configs,
docs and scripts write.

The tests, benchmarks and scripts find it here; the SDK itself never reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ENV = "PERSONCLS_DATA"


def data_root(repo: Optional[os.PathLike] = None) -> Path:
    """``$PERSONCLS_DATA``, else ``<repo>/../shared/data`` (``repo``: the repository root;
    default: the current directory, from which the documented commands run)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    return Path(repo if repo is not None else os.getcwd()).resolve().parent / "shared" / "data"
