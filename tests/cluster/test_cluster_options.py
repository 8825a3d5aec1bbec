"""`--cluster` and `--workers` without a cluster: how a wrong address, a missing Ray and a stray
`--workers` are told, before any work (one line, exit 2). Core tests: Ray is not needed."""

from __future__ import annotations

import sys

import pytest

from snnc import errors
from snnc.cluster import parse_cluster
from tests.cluster.paths import CALIB, DATA, MODEL
from tests.e2e.test_compile import cli


@pytest.mark.parametrize(("spec", "address"), [("ray", None), ("ray://head:10001", "ray://head:10001"),
                                               ("10.0.0.5:6379", "10.0.0.5:6379")])  # fmt: skip
def test_cluster_addresses(spec, address):
    assert parse_cluster(spec) == address


@pytest.mark.parametrize("spec", ["ray://", "spark", "head:port", ":6379"])
def test_a_wrong_address_is_a_usage_error(spec):
    with pytest.raises(errors.UsageError, match="--cluster takes"):
        parse_cluster(spec)


def test_without_ray_cluster_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails, as where it is not installed
    code, stdout, stderr = cli(capsys, "eval", MODEL, "--data", DATA, "--calib", CALIB, "--neuron", "if", "-T", "8",
                               "--cluster", "ray")  # fmt: skip
    assert code == errors.USAGE and stdout == ""
    assert stderr.strip().splitlines() == [
        "snnc: error: --cluster needs Ray, an optional extra: pip install 'snnc[ray]'"
    ]


def test_workers_without_a_cluster_is_a_usage_error(capsys):
    code, _, stderr = cli(capsys, "eval", MODEL, "--data", DATA, "--calib", CALIB, "--neuron", "if", "-T", "8",
                          "--workers", "2")  # fmt: skip
    assert code == errors.USAGE and "--workers is for --cluster" in stderr and len(stderr.strip().splitlines()) == 1


def test_a_worker_of_another_snnc_version_refuses_to_start():
    from snnc.cluster import Worker

    with pytest.raises(errors.UsageError, match="the worker runs snnc .*, the driver 0.0.1: install one version"):
        Worker("0.0.1", threads=1)


@pytest.mark.parametrize("flag", ["--threads", "--workers"])
def test_a_cluster_needs_a_thread_and_a_worker_at_least(capsys, flag):
    code, _, stderr = cli(capsys, "eval", MODEL, "--data", DATA, "--calib", CALIB, "--neuron", "if", "-T", "8",
                          "--cluster", "ray", flag, "0")  # fmt: skip
    assert code == errors.USAGE and stderr.strip().splitlines() == [f"snnc: error: {flag} must be at least 1, got 0"]
