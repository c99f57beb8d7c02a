"""The shapes world as a reference set of clips: renders of a prompt suite (FVD's ``world:SUITE``)."""

from __future__ import annotations

from collections.abc import Container, Iterator

import numpy as np

from genkit.errors import GenkitError, SuiteError
from genkit.suites import load_suite
from genkit.world.render import render
from provenance.media import encode_decode


def world_reference(suite: str, *, frames: int, size: tuple[int, int], fps: float, seed: int, crf: int | None,
                    only: Container[int] | None = None) -> Iterator[np.ndarray]:
    """Frames of the shapes-world renders of a prompt suite, clip ``i`` with seed ``seed + i``, through an
    H.264 round trip at ``crf`` (``None``: raw), as ``synthvid world render`` writes them; with ``only``,
    just the clips whose index is in it (a shard of the set). The bench's FVD reference, and the
    :data:`eval.evaluate.ReferenceProvider` of ``synthvid eval --reference world:SUITE``.
    """
    try:
        items = load_suite(suite)
    except GenkitError as exc:
        raise SuiteError(f"world:{suite}", str(getattr(exc, "reason", exc))) from None
    height, width = size
    for index, item in enumerate(items):
        if only is not None and index not in only:
            continue
        video = render(item.prompt, frames=frames, size=(height, width), fps=fps, seed=seed + index)
        yield (encode_decode(video, crf=crf, preset="medium") if crf is not None else video).frames  # write_video's preset
