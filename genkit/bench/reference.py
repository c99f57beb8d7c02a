"""The reference set of a benchmark run: the clips FVD compares the items with, and the detector's
negatives — by default shapes-world renders of the suite (``world:SUITE``), or a folder of clips."""

from __future__ import annotations

from genkit.bench.options import BenchOptions
from genkit.bench.scoring import ItemScoring
from genkit.bench.workers import Workers
from genkit.errors import BenchError, GenkitError
from genkit.generate import Settings
from genkit.ledger import Ledger

REFERENCE_BATCH = 32  # reference entries per ledger transaction


def reference_clips(spec: str, settings: Settings, wanted: list[int]):
    """``(count, iterator of (index, source, frames))`` of the reference set ``spec`` (``world:SUITE`` or
    a folder of clips), yielding only the indices in ``wanted``."""
    from eval.errors import EvalError

    if spec.startswith("world:"):
        from genkit.suites import load_suite
        from genkit.world.reference import world_reference

        suite = spec.removeprefix("world:")
        try:
            count = len(load_suite(suite))
        except GenkitError as exc:
            raise BenchError(None, f"--reference {spec}: {exc}") from None

        def world():
            frames = world_reference(
                suite,
                frames=settings.frames or 16,
                size=(settings.height or 64, settings.width or 64),
                fps=settings.fps,
                seed=settings.base_seed,
                crf=settings.crf,
                only=set(wanted),
            )
            for index, clip in zip(sorted(wanted), frames):
                yield index, f"{spec}#{index}", clip

        return count, world()
    from eval.evaluate import find_clips
    from provenance.media import read_video

    try:
        paths = find_clips(spec).paths
    except EvalError as exc:
        raise BenchError(None, f"--reference: {exc}") from None

    def folder():
        for index in sorted(wanted):
            yield index, str(paths[index]), read_video(paths[index]).frames

    return len(paths), folder()


def add_reference_scores(ledger: Ledger, done: set[int], options: BenchOptions, settings: Settings, scoring: ItemScoring, workers: Workers) -> int:
    """FVD features and detector scores of this worker's share of the reference set that no ledger
    holds yet; returns the set's size."""
    count, _ = reference_clips(options.resolved_reference(), settings, [])
    wanted = [index for index in workers.mine(count) if index not in done]
    if not wanted:
        return count
    _, clips = reference_clips(options.resolved_reference(), settings, wanted)
    entries = []
    for index, source, frames in clips:
        scores = scoring.score_reference(frames)
        entries.append((index, source, scores.get("features"), scores.get("p_synthetic")))
        if len(entries) >= REFERENCE_BATCH:
            ledger.add_references(entries)
            entries = []
    if entries:
        ledger.add_references(entries)
    return count
