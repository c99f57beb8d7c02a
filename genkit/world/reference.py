"""The shapes world as a reference set of clips: renders of a prompt suite (FVD's ``world:SUITE``)."""

from __future__ import annotations

from collections.abc import Container, Iterator

import numpy as np

from genkit.errors import GenkitError, SuiteError
from genkit.suites import load_suite
from genkit.world.render import render_suite
from provenance.media import encode_decode


def world_reference(
    suite: str, *, frames: int, size: tuple[int, int], fps: float, seed: int, crf: int | None, only: Container[int] | None = None
) -> Iterator[np.ndarray]:
    """Frames of the shapes-world renders of a prompt suite (:func:`genkit.world.render_suite`: clip ``i``
    with seed ``seed + i``), in index order, through an H.264 round trip at ``crf`` (``None``: raw), as
    ``synthvid world render`` writes them; with ``only``, just the clips whose index is in it (a shard
    of the set). The bench's FVD reference, and the :data:`eval.evaluate.ReferenceProvider` of
    ``synthvid eval --reference world:SUITE``.
    """
    try:
        items = load_suite(suite)
    except GenkitError as exc:
        raise SuiteError(f"world:{suite}", str(getattr(exc, "reason", exc))) from None
    for _, _, video in render_suite(items, frames=frames, size=tuple(size), fps=fps, seed=seed, only=only):
        yield (encode_decode(video, crf=crf, preset="medium") if crf is not None else video).frames  # write_video's preset
