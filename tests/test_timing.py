"""provenance.timing.StageTimer: the one stage timer (wall clock and process CPU time per stage name)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from provenance_helpers import keys  # noqa: F401 - session fixture

from genkit.world import render
from provenance.credentials import GeneratorInfo
from provenance.keys import load_signer, load_watermark_key
from provenance.media import write_video
from provenance.repository import ManifestRepository
from provenance.sign import credential_clip
from provenance.timing import StageTimer


def test_laps_charge_the_time_since_the_previous_lap_and_repeated_stages_add_up():
    timer = StageTimer()
    time.sleep(0.02)
    first = timer.lap("load")
    laps = []
    for _ in range(3):
        time.sleep(0.01)
        laps.append(timer.lap("score"))
    sum(i * i for i in range(200_000))  # some CPU work of this process
    timer.lap("work")

    assert list(timer.wall) == list(timer.cpu) == ["load", "score", "work"]  # the order stages were first lapped
    assert first >= 0.02 and timer.wall["load"] == first
    assert all(seconds >= 0.01 for seconds in laps) and timer.wall["score"] == sum(laps)
    assert timer.cpu["work"] > 0.0
    assert timer.cpu["score"] < timer.wall["score"]  # sleeping costs wall time, hardly any CPU
    assert timer.total_wall() >= sum(timer.wall.values())
    assert timer.total_cpu() >= 0.0


def test_importing_the_timer_imports_only_the_standard_library():
    """benchmarks/pipeline.py starts a timer before the heavy imports, so they are a timed stage too."""
    code = "import sys; import provenance.timing; print(' '.join(m for m in ('numpy', 'torch', 'av', 'typer', 'genkit') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("streamed", [False, True])
def test_credential_clip_reports_its_stages_with_the_stage_timer(tmp_path, keys, streamed):  # noqa: F811 - fixture
    """Each credentialed clip's ``seconds``: every stage once, in pipeline order, within the call's wall time;
    a file is streamed (watermark and encode interleaved), a Video embedded in memory."""
    clip = render("a red circle moving left on a blue background", frames=16, size=64, fps=8, seed=3)
    source = write_video(clip, tmp_path / "source.mp4") if streamed else clip
    with ManifestRepository(tmp_path / "manifests.sqlite") as repository:
        started = time.perf_counter()
        made = credential_clip(
            source,
            tmp_path / "signed.mp4",
            generator=GeneratorInfo("shapes-world", "1.0"),
            signer=load_signer(keys.directory),
            repository=repository,
            watermark_key=load_watermark_key(keys.watermark_key),
        )
        elapsed = time.perf_counter() - started
    assert list(made.seconds) == ["watermark", "encode", "watermark_check", "sign", "register"]
    assert all(seconds > 0 for seconds in made.seconds.values())
    assert sum(made.seconds.values()) <= elapsed
