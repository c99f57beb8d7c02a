"""Who does which items of a benchmark run: one process, torchrun's ranks, or job-array shards.

Items are dealt round-robin (torchrun ranks: the items left to do, after all ranks have read the
ledgers; shards: by position in the plan, item n to shard n mod N); since every item has its own seed,
a clip does not depend on who made it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from genkit.errors import BenchError
from genkit.ledger import LEDGER_FILE, worker_ledger_name


@dataclass(frozen=True)
class Workers:
    """Who does which items: ``rank`` of ``world`` workers (``kind``: single, rank or shard)."""

    rank: int = 0
    world: int = 1
    kind: str = "single"
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.kind == "rank"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def name(self) -> str:
        return "single" if self.kind == "single" else f"{self.kind}{self.rank}-of-{self.world}"

    @property
    def ledger_name(self) -> str:
        return LEDGER_FILE if self.kind == "single" else worker_ledger_name(self.kind, self.rank, self.world)

    def mine(self, count: int) -> list[int]:
        """Positions ``0 .. count-1`` this worker owns (round-robin)."""
        return list(range(self.rank, count, self.world))

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def workers_from_env(num_shards: int = 1, shard_index: int = 0, environ=os.environ) -> Workers:
    """torchrun's RANK/WORLD_SIZE/LOCAL_RANK, or ``--num-shards/--shard-index``, or a single worker."""
    world = int(environ.get("WORLD_SIZE", "1") or 1)
    if world > 1:
        if num_shards > 1:
            raise BenchError(None, "--num-shards is for job arrays without torchrun; under torchrun the ranks are the shards")
        return Workers(int(environ["RANK"]), world, "rank", int(environ.get("LOCAL_RANK", "0") or 0))
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise BenchError(None, f"--shard-index {shard_index} must be in 0..{num_shards - 1} (--num-shards {num_shards})")
    if num_shards == 1:
        return Workers()
    return Workers(shard_index, num_shards, "shard")


def start_process_group(workers: Workers, device: str) -> None:
    """gloo on CPU, NCCL when the ranks use GPUs (the env:// rendezvous torchrun sets up)."""
    if not workers.distributed:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        # Ranks meet at a barrier after their items; a resumed run can leave one rank far more to do
        # than another, so the wait may be long (torch's default gives up after 10-30 minutes).
        from datetime import timedelta

        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo", timeout=timedelta(hours=24))


def stop_process_group(workers: Workers) -> None:
    if workers.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def worker_device(device: str, workers: Workers) -> str:
    """``auto`` under torchrun on a GPU machine means this rank's GPU (LOCAL_RANK)."""
    if device == "auto" and workers.distributed:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{workers.local_rank}"
        return "cpu"
    return device
