"""Data-parallel fit: two processes under torchrun on 127.0.0.1 (bounded in time) against
single-process training on the same global batches, and the pieces that need no
processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from training._distributed import EPOCHS, REFUSED, TRAINED

from deepdescent.optimizers import catalogue
from deepdescent.training import BatchIterator, distributed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run the worker on two processes once; its two records."""
    out = tmp_path_factory.mktemp("distributed")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", str(ROOT / "tests" / "training" / "_distributed.py")]
    done = subprocess.run(
        [*command, str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("name", TRAINED)
def test_the_ranks_hold_identical_weights_after_every_step(ranks, name):
    first, second = (r["results"][name] for r in ranks)
    assert first["weights"] == second["weights"] and len(first["weights"]) > 1
    assert first["history"] == second["history"]


@pytest.mark.parametrize("name", TRAINED)
def test_each_rank_runs_forward_on_its_share_of_every_batch(ranks, name):
    """29 training samples in batches of 8: every forward pass of a step (SAM and the line
    searches make several) sees 4 + 4 rows three times, then 3 + 2 (the first rank takes
    the extra row); a batch method sees 15 + 14 of the whole set."""
    first, second = (r["results"][name]["rows"] for r in ranks)
    batch = catalogue.info(name).cls.training_needs.full_batch
    expected = [[29]] * EPOCHS if batch else [[8], [8], [8], [5]] * EPOCHS
    assert len(first) == len(second) == len(expected)
    for mine, theirs, sizes in zip(first, second, expected, strict=True):
        assert mine and len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert [a, b] == distributed.shares(sizes[0], 2)


@pytest.mark.parametrize("name", TRAINED)
def test_data_parallel_matches_one_process_on_the_global_batch(ranks, name):
    result = ranks[0]["results"][name]
    np.testing.assert_allclose(result["final"], result["single"]["final"], rtol=0, atol=1e-6)
    for key, values in result["single"]["history"].items():
        np.testing.assert_allclose(result["history"][key], values, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", REFUSED)
def test_curvature_methods_are_refused_on_every_rank(ranks, name):
    for record in ranks:
        assert "cannot train data-parallel" in record["refusals"][name]


def test_a_data_parallel_run_resumes_bit_identically(ranks):
    for record in ranks:
        assert record["resume"] == {"identical": True, "backup_deleted": True}


# -- without processes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "world", "expected"), [(8, 2, [4, 4]), (5, 2, [3, 2]), (7, 3, [3, 2, 2])]
)
def test_shares_split_a_batch_contiguously(rows, world, expected):
    assert distributed.shares(rows, world) == expected


def test_distributed_true_without_processes_says_how_to_launch():
    from training._distributed import data, model_for

    with pytest.raises(ValueError, match="torchrun --standalone --nproc_per_node=2"):
        model_for("sgd").fit(*data(), verbose=0, distributed=True)


def test_a_batch_too_small_for_the_processes_is_refused():
    x, y = torch.zeros(9, 2), torch.zeros(9, 1)
    with pytest.raises(ValueError, match="leaves a batch of 1 rows for 2 processes"):
        distributed.ShardedBatches(x, y, 4, True, seed=0, rank=0, world=2)


def test_each_rank_takes_its_share_of_the_same_permutation():
    x = torch.arange(10.0).reshape(10, 1)
    seen = []
    for rank in (0, 1):
        batches = distributed.ShardedBatches(x, x, 4, True, seed=3, rank=rank, world=2)
        batches.start_epoch()
        seen.append([xb.reshape(-1).tolist() for _, xb, _, _ in batches])
    single = BatchIterator(x, x, 4, True, seed=3)
    single.start_epoch()
    assert [a + b for a, b in zip(*seen, strict=True)] == [
        xb.reshape(-1).tolist() for _, xb, _, _ in single
    ]


def test_the_process_group_resolve_makes_is_destroyed_at_exit(tmp_path, monkeypatch):
    """``resolve`` registers the group's destruction for exit time: left to the interpreter's
    finalization, gloo can abort a rank that trained successfully."""
    from training._distributed import model_for

    real_init = torch.distributed.init_process_group
    store = f"file://{tmp_path / 'store'}"
    at_exit = []
    monkeypatch.setattr(distributed, "launched_by_torchrun", lambda: True)
    monkeypatch.setattr(
        distributed.dist,
        "init_process_group",
        lambda backend: real_init(backend, init_method=store, rank=0, world_size=1),
    )
    monkeypatch.setattr(distributed.atexit, "register", at_exit.append)
    assert distributed.resolve(None, model_for("sgd")) is None  # a world of one
    assert torch.distributed.is_initialized()
    assert at_exit == [distributed.destroy_process_group]
    at_exit[0]()
    assert not torch.distributed.is_initialized()
    at_exit[0]()  # nothing left to destroy: no error
