"""Lap timing by stage name, wall clock and process CPU time: the one stage timer of every package.

Standard library only: ``benchmarks/pipeline.py`` starts a timer before it imports torch or genkit's
heavy modules, so the imports are a timed stage too.

    timer = StageTimer()
    load()
    timer.lap("load")            # time since the timer started
    for item in items:
        score(item)
        timer.lap("score")       # time since the last lap; repeated stages add up
    timer.wall, timer.cpu        # {"load": s, "score": s}

CPU time is :func:`time.process_time`: every thread of this process, so a stage running torch on two
threads can show more CPU than wall time; on a shared machine the wall clock also charges a stage for
the neighbours' load, CPU time only for its own work.
"""

from __future__ import annotations

import time


class StageTimer:
    """Seconds per stage name: ``wall`` and ``cpu`` (dicts in the order stages were first lapped)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.started_wall = self._last_wall = time.perf_counter()
        self.started_cpu = self._last_cpu = time.process_time()

    def lap(self, stage: str) -> float:
        """Charge the time since the previous lap (or the start) to ``stage``; returns its wall seconds."""
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        seconds = now_wall - self._last_wall
        self.wall[stage] = self.wall.get(stage, 0.0) + seconds
        self.cpu[stage] = self.cpu.get(stage, 0.0) + now_cpu - self._last_cpu
        self._last_wall, self._last_cpu = now_wall, now_cpu
        return seconds

    def total_wall(self) -> float:
        """Wall seconds since the timer started (lapped or not)."""
        return time.perf_counter() - self.started_wall

    def total_cpu(self) -> float:
        return time.process_time() - self.started_cpu
