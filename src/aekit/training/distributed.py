"""Data-parallel training with PyTorch's DistributedDataParallel, launched by ``torchrun``.

``torchrun --nproc_per_node=N -m aekit.cli.main train ...`` starts N processes and sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; the trainer joins the process group from
them (``env://``; gloo on CPU, nccl on CUDA). ``train.batch_size`` stays the *global* batch: every
process draws the same permutation of the training set (the shuffling generator is seeded with
``train.seed`` on all ranks) and takes rows ``r, r + N, r + 2N, ...`` of each global batch. Each
rank's loss is weighted by its share of the batch (``b_r * N / b``), so DDP's gradient average is
the gradient of the global batch mean: N processes match one process at the same batch size, up
to float rounding, for models whose batch statistics do not couple samples (no BatchNorm).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from aekit.errors import ConfigError


@dataclass
class Dist:
    """This process's place in the job: rank ``rank`` of ``world`` (1: no distribution)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this trainer initialised the process group (and tears it down)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """A seed for this rank's own streams (noise, sampling) from (seed, rank), well mixed."""
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0])

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, int, float]:
        """This rank's rows of a global batch: (rows, how many count, loss weight b_r * N / b).

        A rank left without rows (a last batch smaller than N) runs one row at weight 0, so
        every rank still takes part in the gradient all-reduce.
        """
        mine = idx[self.rank :: self.world]
        b = mine.shape[0]
        if b == 0:
            return idx[:1], 0, 0.0
        return mine, b, b * self.world / idx.shape[0]

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of ``t`` (same shape on all), in rank order."""
        if not self.enabled:
            return [t]
        dev = _comm_device()
        out = [torch.empty_like(t, device=dev) for _ in range(self.world)]
        dist.all_gather(out, t.to(dev))
        return [o.cpu() for o in out]

    def broadcast_str(self, s: str | None) -> str:
        """Rank 0's string on every rank."""
        if not self.enabled:
            return s
        box = [s]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def check_same(self, settings: dict) -> None:
        """Refuse a job whose processes were started with different ``settings`` (a nested
        dict: config sections, the data's fingerprint): each would train its own model, and the
        job end in a collective error. Every rank raises the same ConfigError."""
        if not self.enabled:
            return
        mine = json.dumps(settings, sort_keys=True, default=str)
        first = json.loads(self.broadcast_str(mine))
        differ = sorted(
            f"{section}.{k}"
            for section in settings
            for k in set(settings[section]) | set(first.get(section, {}))
            if settings[section].get(k) != first.get(section, {}).get(k)
        )
        flags = self.all_sum(torch.tensor([float(bool(differ))], device=_comm_device()))
        if flags.item() > 0:
            where = (
                f"this rank ({self.rank}) has other {', '.join(differ)}"
                if differ
                else ("another rank has other settings")
            )
            raise ConfigError(
                f"the torchrun processes were started with different settings: {where} than "
                "rank 0; start every process with the same command and data"
            )

    @property
    def backend(self) -> str | None:
        return dist.get_backend() if self.enabled else None

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def setup(device_name: str) -> tuple[Dist, str]:
    """Join the torchrun job if there is one; returns it and the device name for this rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return Dist(), device_name
    if not dist.is_available():
        raise ConfigError(
            "WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; run one process "
            "(aekit train) or install a PyTorch build with distributed support"
        )
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device_name != "cpu" and torch.cuda.is_available()
    if cuda:
        device_name = f"cuda:{local}"
        torch.cuda.set_device(local)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if cuda else "gloo"
        if not dist.is_backend_available(backend):
            raise ConfigError(
                f"torch.distributed backend {backend} is not available in this PyTorch build; "
                "run one process (aekit train)"
            )
        dist.init_process_group(backend=backend, init_method="env://")
        owns = True
    d = Dist(dist.get_rank(), dist.get_world_size(), local, owns)
    return d, device_name
