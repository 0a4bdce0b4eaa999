"""A short version of benchmarks/soak.py (10,000 frames there): a few hundred encoded photos
through one Classifier per backend with flat memory and unchanged answers, and one Classifier
shared by 8 threads giving bit-identical answers."""

from __future__ import annotations

import pytest

from conftest import benchmark_script
from personcls.backends import available_backends


@pytest.fixture(scope="module")
def soak():
    return benchmark_script("soak")


@pytest.fixture(scope="module")
def blobs(soak, data_dir):
    return soak.photos(data_dir)[1]


@pytest.mark.parametrize("backend", available_backends())
def test_soak_short(soak, blobs, backend):
    r = soak.soak(backend, None, blobs, frames=240, warmup=48, mode="list")
    assert r["frames"] == 240 and r["failed"] == 0
    assert r["drift"] == 0, r  # the same photo gets the same answer wherever it sits in a batch
    assert r["rss_end_mb"] - r["rss_warm_mb"] < 48, r


@pytest.mark.parametrize("backend", available_backends())
def test_eight_threads_give_one_threads_answers(soak, blobs, backend):
    t = soak.threads_identical(backend, blobs, threads=8, rounds=2)
    assert not t["errors"], t["errors"]
    assert t["answers"] == 8 * 2 * len(blobs) and t["mismatches"] == 0, t
