"""Data-parallel ``fit`` over torch.distributed: DistributedDataParallel, gloo on CPU and
NCCL on GPU, launched by ``torchrun`` (or ``deepdescent train --nproc N``).

Each process (rank) holds the whole model and is given the same ``x`` and ``y``.
``batch_size`` is the *global* batch, as in Keras's distribution API: every rank draws the
same permutation each epoch (one generator seed, drawn on rank 0 and broadcast) and
takes a disjoint, contiguous share of every batch, n·r/W … n·(r+1)/W of its n rows for
rank r of W. The gradient is all-reduced by DDP during the backward pass; each rank's
cost is scaled by W·n_r/n first, so that DDP's average over ranks is the gradient of the
mean over the whole batch even when the shares differ (a partial last batch): the step
is the single-process step on the global batch, up to rounding.

The running loss and metrics are sums, all-reduced at the end of every epoch, so every
rank logs the same epoch numbers (batch logs, which only the progress bar reads, are the
rank's own). Validation runs on each rank over the whole validation set (same weights,
same numbers). A skipped non-finite step and a stop requested by a callback are agreed
on by all ranks at every step, so no rank is left waiting in a collective. Only rank 0
prints and writes backups; every rank runs the callbacks, so give callbacks that write
files (ModelCheckpoint, CSVLogger) to rank 0 only (:func:`is_primary`).

Methods that differentiate twice or read the layers (Newton, exact conjugate gradient,
Hessian-free, K-FAC) compute curvature on the rank's own share, which DDP does not
reduce: they are refused. Closure methods (line searches, (L-)BFGS, CG, SAM) work: the
closure's loss is all-reduced too, so every rank searches along the same line.

Why DDP, and not an all-reduce of ``.grad`` after the hand-written back-propagation: DDP
overlaps the all-reduce with the backward pass bucket by bucket and is the engine the
ecosystem trusts; its reducer needs autograd's hooks, so :class:`DataParallel` is a
participant that declares ``needs_autograd`` and the trainer takes the autograd path
(:mod:`~deepdescent.training.gradient_path`).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.training.data import BatchIterator, ExampleOrder, structure_length, take
from deepdescent.training.objective import Objective

if TYPE_CHECKING:
    from deepdescent import metrics
    from deepdescent.models.model import Model

__all__ = [
    "DataParallel",
    "ShardObjective",
    "ShardedBatches",
    "destroy_process_group",
    "is_primary",
    "launched_by_torchrun",
    "rank",
    "resolve",
    "shares",
]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that ``torchrun`` started."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES) and (
        int(os.environ["WORLD_SIZE"]) > 1
    )


def rank() -> int:
    """This process's rank (0 outside a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_primary() -> bool:
    """Whether this process prints and writes files (rank 0, or the only process)."""
    return rank() == 0


def shares(rows: int, world: int) -> list[int]:
    """How many of a batch's ``rows`` each of ``world`` ranks takes (contiguous, the
    first ``rows % world`` ranks one more)."""
    return [rows // world + (1 if r < rows % world else 0) for r in range(world)]


def resolve(distributed: bool | None, model: Model) -> DataParallel | None:
    """The run's :class:`DataParallel`, or ``None`` for a single process.

    ``distributed=None`` means: data-parallel when launched by ``torchrun`` with more than
    one process (or inside an initialized process group of several); ``True`` requires
    it; ``False`` never.
    """
    if distributed is False:
        return None
    initialized = dist.is_available() and dist.is_initialized()
    if not initialized and not launched_by_torchrun():
        if distributed:
            raise ValueError(
                "fit(distributed=True) needs several processes: launch the script with "
                "torchrun (e.g. torchrun --standalone --nproc_per_node=2 train.py), or "
                "initialize a torch.distributed process group first"
            )
        return None
    if not initialized:
        backend = "nccl" if model.device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(destroy_process_group)
    if dist.get_world_size() == 1:
        return None
    return DataParallel(model)


def destroy_process_group() -> None:
    """Destroy the process group :func:`resolve` made (registered to run at exit, while the
    interpreter is still whole): left to the interpreter's finalization, gloo's worker
    threads drop tensors they hold without the GIL, and a run that succeeded can end in
    ``terminate called without an active exception`` (SIGABRT), which torchrun reports as
    a failed rank."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class _Outputs(torch.nn.Module):
    """The model's outputs as the objective takes them (before a folded activation), as
    one module that DDP can wrap."""

    def __init__(self, model: Model, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self._forward = forward

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._forward(inputs)


@dataclasses.dataclass
class ShardObjective(Objective):
    """The objective of one rank's share of the batch: the cost through DDP, scaled by
    ``scale()`` before the backward pass (see the module docstring); with
    ``global_loss`` the cost returned is the whole batch's, all-reduced."""

    scale: Callable[[], float] = lambda: 1.0
    global_loss: bool = False
    world: int = 1

    def value_and_grad(
        self, x: Any, y: Any, sample_weight: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Any]:
        # fit refuses sample weights in a data-parallel run (_check_parallel in the loop).
        self.model.zero_grad(set_to_none=True)
        cost, outputs = self(x, y, sample_weight)
        scale = self.scale()
        (cost * scale).backward()
        cost = cost.detach()
        if self.global_loss:
            cost = cost * (scale / self.world)
            dist.all_reduce(cost)
        return cost, outputs.detach()


class ShardedBatches(BatchIterator):
    """The epoch's batches as every rank draws them, each cut to this rank's share.

    Args:
        x, y, batch_size, shuffle, seed: as for :class:`BatchIterator` (``batch_size``
            is the global batch; ``seed`` the same on every rank).
        rank, world: this rank and the number of ranks.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        shuffle: bool | ExampleOrder,
        seed: int,
        rank: int,
        world: int,
    ) -> None:
        super().__init__(x, y, batch_size, shuffle, seed)
        self.rank, self.world = rank, world
        self.share = (1, 1)  # this rank's rows and the batch's, for the cost's scale
        last = self.samples % self.batch_size
        if self.batch_size < world or 0 < last < world:
            raise ValueError(
                f"Invalid batch_size: {batch_size} with {self.samples} training samples leaves a "
                f"batch of {min(self.batch_size, last or self.batch_size)} rows for {world} "
                "processes (expected every batch, the last one too, to have at least one row "
                "per process); choose another batch_size"
            )

    def __iter__(self) -> Any:
        for batch, xb, yb, wb in super().__iter__():
            rows = structure_length(xb)
            sizes = shares(rows, self.world)
            start = sum(sizes[: self.rank])
            self.share = (sizes[self.rank], rows)
            own = slice(start, start + sizes[self.rank])
            yield batch, take(xb, own), take(yb, own), take(wb, own)

    def scale(self) -> float:
        """W · n_r / n for the batch being trained on."""
        rows, total = self.share
        return self.world * rows / total


class DataParallel:
    """One process of a data-parallel run: what ``fit`` does differently (see the module
    docstring). A participant of training that needs autograd (DDP's hooks).

    Args:
        model: the model, on this rank's device.
    """

    needs_autograd = True
    name = "DistributedDataParallel"

    def __init__(self, model: Model) -> None:
        self.model = model
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.device = model.device
        self.batches: ShardedBatches | None = None

    @property
    def is_primary(self) -> bool:
        return self.rank == 0

    def check_optimizer(self, needs: TrainingNeeds, optimizer: torch.optim.Optimizer) -> None:
        """Refuse a method whose curvature or layer statistics would be the rank's own."""
        if needs.autograd or needs.model_outputs or needs.layer_statistics:
            raise ValueError(
                f"{type(optimizer).__name__} cannot train data-parallel: it takes curvature "
                "products or layer statistics on each process's share of the batch, which "
                "DistributedDataParallel does not all-reduce. Train it in one process, or "
                "use a first-order method, (L-)BFGS, conjugate gradient (exact=False), "
                "Shampoo or SAM"
            )

    def shared_seed(self, seed: int) -> int:
        """Rank 0's ``seed`` (each rank drew its own from its global random stream, so that
        those streams stay alike)."""
        shared = torch.tensor([seed], dtype=torch.int64, device=self._collective_device())
        dist.broadcast(shared, src=0)
        return int(shared)

    def make_batches(self, iterator: BatchIterator) -> ShardedBatches:
        """``iterator``'s minibatches as every rank draws them (rank 0's seed), each cut
        to this rank's share."""
        order = iterator.strategy if iterator.strategy is not None else iterator.shuffle
        self.batches = ShardedBatches(
            iterator.x,
            iterator.y,
            iterator.batch_size,
            order,
            self.shared_seed(iterator.seed),
            self.rank,
            self.world,
        )
        return self.batches

    def objective(self, objective: Objective, needs: TrainingNeeds) -> ShardObjective:
        """``objective`` computed through DDP on this rank's share."""
        outputs = _Outputs(self.model, objective.forward)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # Buffers are not broadcast: every rank applies the same updates to the same
        # weights, and a broadcast would cost a collective per forward, validation too.
        ddp = torch.nn.parallel.DistributedDataParallel(
            outputs, device_ids=device_ids, broadcast_buffers=False
        )
        fields = {f.name: getattr(objective, f.name) for f in dataclasses.fields(objective)}
        assert self.batches is not None, "make_batches comes first"
        return ShardObjective(
            **{**fields, "forward": ddp},
            scale=self.batches.scale,
            global_loss=needs.closure,
            world=self.world,
        )

    def agree(self, ok: bool) -> bool:
        """Whether ``ok`` holds on every rank."""
        flag = torch.tensor([int(ok)], device=self._collective_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on some rank."""
        return not self.agree(not flag)

    def sum_states(self, trackers: Sequence[metrics.Metric]) -> None:
        """Add up the trackers' running sums over all ranks, in place."""
        for tracker in trackers:
            for value in tracker.state_dict().values():
                dist.all_reduce(value)

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order."""
        found: list[Any] = [None] * self.world
        dist.all_gather_object(found, value)
        return found

    def barrier(self) -> None:
        dist.barrier()

    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")
