"""The benchmark runner behind ``synthvid bench``: a model on a prompt suite, every clip credentialed and
scored, one ledger row per item, set-level metrics at the end.

The subpackage, one module per concern:

- :mod:`~genkit.bench.options` — what was asked (``BenchOptions``, ``--metrics``) and the run's identity;
- :mod:`~genkit.bench.workers` — one process, torchrun ranks or job-array shards;
- :mod:`~genkit.bench.record` — one record per delivered clip (decoded, hashed, watermark read and prompt
  parsed once);
- :mod:`~genkit.bench.scoring` — the registry of per-item scorers (``prepare()``, ``score(record)``);
- :mod:`~genkit.bench.reference` — the reference set (FVD's real side, the detector's negatives);
- :mod:`~genkit.bench.loop` — the run: plan, generate in batches, deliver, score, commit;
- :mod:`~genkit.bench.finalize` — merge, export, set-level metrics.

Per item (prompt index i, sample index k; seed :func:`genkit.generate.item_seed` (base, i, k))::

    generate (in batches) ─► finish_clip: watermark → H.264 → read the mark back → C2PA sign → register
        ─► ItemRecord (the pixels that read-back decoded, file hash, watermark reading, parsed prompt)
        ─► scorers: CLIPSIM + temporal (eval), FVD features, world analyzer, verify (provenance, from
           the record), watermark under attacks, detector P(synthetic)
        ─► one atomic ledger commit (genkit.ledger)

Then, set-level: FVD of the items' features against the reference set's (by default shapes-world
renders of the same prompts), means and breakdowns per prompt dimension and shapes-world attribute,
written to ``metrics.json``; ``results.parquet`` is exported from the ledger.

Resuming. Re-running the same command skips every item finished in any ledger of the folder; a failed
item is tried again. A folder made with another config is refused (:class:`RunFolderError`).

Scale-out. Items are dealt round-robin over workers (torchrun ranks: the items left to do, after all
ranks have read the ledgers; shards: by position in the plan, item n to shard n mod N); since every
item has its own seed, a clip does not depend on who made it.

- ``torchrun --nproc-per-node N -m genkit bench ...`` (RANK/WORLD_SIZE/LOCAL_RANK in the environment):
  a process group is started (gloo on CPU, NCCL on GPUs), each rank writes ``ledger.rank{r}-of-{N}.sqlite``,
  rank 0 merges them into ``ledger.sqlite`` after a barrier, and computes FVD over every item's
  features from the merged ledger.
- ``--num-shards N --shard-index i`` (job arrays, no process group): shard i writes
  ``ledger.shard{i}-of-{N}.sqlite``; ``synthvid bench merge RUN_DIR`` merges the shards and computes
  the set-level metrics (a shard that finds every item done merges by itself).

Manifest repository. SQLite's locks do not hold over a network filesystem, so with more than one
worker none writes the shared repository (``--repo``): each registers its clips into its own
``manifests.{rank|shard}{i}-of-{N}.sqlite`` in the run folder, and whoever merges the ledgers merges
those into ``--repo`` too (idempotent; a payload that maps to two manifests stops the merge with its
name) and removes them.
"""

from genkit.bench.loop import BenchResult, merge_run, run_bench
from genkit.bench.options import DEFAULT_ATTACKS, DEFAULT_METRICS, METRICS, NO_REFERENCE, BenchOptions, parse_metrics
from genkit.bench.workers import Workers, start_process_group, stop_process_group, worker_device, workers_from_env

__all__ = [
    "DEFAULT_ATTACKS",
    "DEFAULT_METRICS",
    "METRICS",
    "NO_REFERENCE",
    "BenchOptions",
    "BenchResult",
    "Workers",
    "merge_run",
    "parse_metrics",
    "run_bench",
    "start_process_group",
    "stop_process_group",
    "worker_device",
    "workers_from_env",
]
