"""The bench subpackage imported directly: scorer registry, one record per delivered clip, workers,
reference set and set-level metrics, on real clips, real keys, a real ledger and a real repository."""

from __future__ import annotations

import numpy as np
import pytest

from genkit.backends import load_backend
from genkit.bench import scoring as scoring_module
from genkit.bench.finalize import detector_auc, set_level_metrics
from genkit.bench.loop import ItemContext, commit_item
from genkit.bench.options import DEFAULT_METRICS, METRICS, BenchOptions, parse_metrics
from genkit.bench.record import make_record, parse_specs
from genkit.bench.reference import add_reference_scores
from genkit.bench.scoring import SCORERS, ItemScoring, Scorer, ScoringContext, register
from genkit.bench.workers import Workers, workers_from_env
from genkit.errors import BenchError
from genkit.generate import finish_clip, open_provenance, plan_clips, resolve_settings
from genkit.ledger import Ledger
from genkit.runfolder import RunFolder
from genkit.suites import SuiteItem
from provenance.credentials import sha256_file
from provenance.media import read_video
from provenance.verify import MAX_DECODED_FRAMES, read_watermark, verify_file

PROMPTS = ["a red circle moving right on a white background", "a blue square moving up on a black background"]
FAST_METRICS = ("analyzer", "robustness")  # no encoder to load: the record and verify are what is tested


def render(world, prompt: str):
    import torch

    return world.generate([prompt], [torch.Generator().manual_seed(1)], frames=8, height=64, width=64, steps=1, guidance=0.0)[0]


@pytest.fixture(scope="module")
def world():
    return load_backend("shapes-world", device="cpu")


@pytest.fixture(scope="module")
def provenance(tmp_path_factory):
    home = tmp_path_factory.mktemp("keys")
    opened = open_provenance(home / "keys", home / "manifests.sqlite")
    yield opened
    opened.close()


@pytest.fixture
def delivered(tmp_path, world, provenance):
    """One world clip finished as the bench finishes it (watermark, H.264, sign, register, keep_decoded)."""
    items = [SuiteItem(prompt, f"{index:04d}") for index, prompt in enumerate(PROMPTS)]
    settings = resolve_settings(world, frames=8, height=64, width=64, fps=None, steps=None, guidance=None, batch_size=None, base_seed=0)
    requests = plan_clips(items, PROMPTS, 1, 0)
    run = RunFolder.create(tmp_path / "run", {"job": "test"})
    path = run.clip_path(requests[0].clip_name)
    finished = finish_clip(run, world, requests[0], render(world, requests[0].model_prompt), settings, provenance, path, 0.0, keep_decoded=True)
    return run, world, settings, requests, items, finished, path


def test_every_metric_name_is_served_by_exactly_one_registered_scorer():
    served = [name for cls in SCORERS for name in cls.names]
    assert sorted(served) == sorted(METRICS)
    assert parse_metrics(None) == DEFAULT_METRICS and parse_metrics("all") == METRICS
    with pytest.raises(BenchError, match="--metrics nope: unknown"):
        parse_metrics("clipsim,nope")


def test_the_record_holds_the_delivered_files_pixels_hash_and_watermark(delivered, provenance):
    run, world, settings, requests, items, finished, path = delivered
    specs = parse_specs(items)
    record = make_record(finished, requests[0], path, specs[0], provenance.watermark_key)
    # Decoded once, by the check inside credential_clip, from the encoded bytes: what the signed file decodes to.
    assert np.array_equal(record.video.frames, read_video(path).frames)
    assert record.row["file_sha256"] == sha256_file(path)
    fresh = read_watermark(read_video(path, max_frames=MAX_DECODED_FRAMES).frames, provenance.watermark_key)
    assert record.watermark == fresh and record.watermark.payload == record.row["payload"]
    assert record.spec.color == "red" and record.spec.shape == "circle"


def test_verify_from_the_record_gives_the_verdict_verify_gives_from_the_file(delivered, provenance):
    run, world, settings, requests, items, finished, path = delivered
    record = make_record(finished, requests[0], path, parse_specs(items)[0], provenance.watermark_key)
    from provenance.keys import load_trust_anchors

    anchors = load_trust_anchors([provenance.trust_anchor])
    kwargs = dict(trust_anchors_pem=anchors, repository=provenance.repository, watermark_key=provenance.watermark_key)
    from_file = verify_file(path, **kwargs).to_dict()
    from_record = verify_file(path, evidence=record.evidence(), **kwargs).to_dict()
    assert from_record == from_file and from_file["verdict"] == "TRUSTED"


def test_a_stale_record_cannot_hide_a_changed_file(delivered, provenance):
    """Evidence saves decoding and hashing, never the C2PA check: bytes changed after delivery still show."""
    run, world, settings, requests, items, finished, path = delivered
    record = make_record(finished, requests[0], path, parse_specs(items)[0], provenance.watermark_key)
    data = bytearray(path.read_bytes())
    data[data.index(b"mdat") + 8] ^= 0xFF  # a sample byte: the hard binding breaks
    path.write_bytes(bytes(data))
    from provenance.keys import load_trust_anchors

    verdict = verify_file(
        path,
        trust_anchors_pem=load_trust_anchors([provenance.trust_anchor]),
        repository=provenance.repository,
        watermark_key=provenance.watermark_key,
        evidence=record.evidence(),
    )
    assert verdict.verdict.value == "TAMPERED"


def test_item_scoring_runs_the_registered_scorers_in_order_with_their_timings(delivered, provenance):
    run, world, settings, requests, items, finished, path = delivered
    context = ScoringContext(BenchOptions("test", None, metrics=FAST_METRICS), provenance, world_prompts=True, world_model=True)
    scoring = ItemScoring(context)
    assert [type(s).__name__ for s in scoring.scorers] == ["WorldAnalyzer", "Verification", "Robustness"]
    record = make_record(finished, requests[0], path, parse_specs(items)[0], provenance.watermark_key)
    columns = scoring.score(record)
    assert columns["verdict"] == "TRUSTED" and columns["watermark_payload_match"] is True
    assert columns["expected_color"] == "red" and columns["match_all"] is True
    assert {"wm_h_264_crf_28", "wm_resize_0_5_back", "wm_brightness_1_5"} <= set(columns)
    assert all(columns[f"{stage}_seconds"] >= 0 for stage in ("analyzer", "verify", "robustness"))


def test_a_registered_scorer_adds_its_columns_and_the_notes_say_why_one_is_skipped(delivered, provenance):
    run, world, settings, requests, items, finished, path = delivered

    class MeanLuma(Scorer):
        names = ("analyzer",)  # rides on an existing name: a new metric adds its name to METRICS
        stage = "mean_luma"

        def score(self, record):
            return {"mean_luma": float(record.video.frames.mean())}

    register(MeanLuma)
    try:
        context = ScoringContext(BenchOptions("test", None, metrics=("analyzer", "robustness")), None, world_prompts=False, world_model=False)
        scoring = ItemScoring(context)
        record = make_record(finished, requests[0], path, None, None)
        columns = scoring.score(record)
    finally:
        SCORERS.remove(MeanLuma)
    assert columns["mean_luma"] == pytest.approx(float(read_video(path).frames.mean()))
    assert "match_all" not in columns and "verdict" not in columns  # no world prompts, no provenance
    assert context.notes["analyzer"].startswith("skipped") and context.notes["robustness"].startswith("skipped")
    assert MeanLuma not in scoring_module.SCORERS


def test_commit_item_records_a_failure_and_the_ledger_keeps_it(tmp_path, world, provenance):
    items = [SuiteItem(PROMPTS[0], "0000")]
    settings = resolve_settings(world, frames=8, height=64, width=64, fps=None, steps=None, guidance=None, batch_size=None, base_seed=0)
    requests = plan_clips(items, PROMPTS[:1], 1, 0)
    run = RunFolder.create(tmp_path / "run", {"job": "test"})
    scoring = ItemScoring(ScoringContext(BenchOptions("test", None, metrics=("analyzer",)), provenance, True, True))
    with Ledger(run.root / "ledger.sqlite") as ledger:
        context = ItemContext(
            run, world, settings, provenance, scoring, ledger, Workers(), {"p0-s0": run.clip_path(requests[0].clip_name)}, parse_specs(items)
        )
        row = commit_item(context, requests[0], RuntimeError("model exploded"), 0.0)
        assert row["status"] == "failed" and "model exploded" in row["error"]
        row = commit_item(context, requests[0], render(world, PROMPTS[0]), 0.0)
        assert row["status"] == "ok" and row["verdict"] == "TRUSTED" and row["decode_seconds"] >= 0
        assert ledger.finished_keys() == {"p0-s0"}


def test_workers_deal_items_round_robin_and_refuse_bad_shards():
    assert Workers(1, 3, "shard").mine(7) == [1, 4]
    assert workers_from_env(2, 1, environ={}).name == "shard1-of-2"
    assert workers_from_env(environ={"WORLD_SIZE": "2", "RANK": "1"}).ledger_name == "ledger.rank1-of-2.sqlite"
    with pytest.raises(BenchError, match="--shard-index 2 must be in 0..1"):
        workers_from_env(2, 2, environ={})


def test_reference_scores_go_to_the_ledger_once(tmp_path, world):
    class Features(Scorer):
        names = ("fvd",)

        def score(self, record):
            return {}

        def score_reference(self, frames):
            return {"features": np.float32([frames.mean()]).tobytes()}

    context = ScoringContext(BenchOptions("shapes-smoke", None, metrics=("fvd",)), None, True, True)
    scoring = ItemScoring.__new__(ItemScoring)
    scoring.scorers = [Features(context)]
    settings = resolve_settings(world, frames=8, height=64, width=64, fps=None, steps=None, guidance=None, batch_size=None, base_seed=0)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        count = add_reference_scores(ledger, set(), context.options, settings, scoring, Workers(0, 10, "shard"))
        assert count == 20 and ledger.reference_indices() == {0, 10}
        assert add_reference_scores(ledger, {0, 10}, context.options, settings, scoring, Workers(0, 10, "shard")) == 20
        assert len(ledger.reference_features()) == 2


def test_set_level_metrics_take_means_over_ok_rows_and_break_them_down():
    rows = [
        {"status": "ok", "clipsim": 0.2, "dimension": "color", "p_synthetic": 0.9},
        {"status": "ok", "clipsim": 0.4, "dimension": "shape", "p_synthetic": 0.7},
        {"status": "failed", "clipsim": None, "dimension": "shape"},
    ]
    metrics = set_level_metrics(rows, {"items": 3})
    assert metrics["items_ok"] == 2 and metrics["items_failed"] == 1
    assert metrics["means"]["clipsim"] == pytest.approx(0.3)
    assert metrics["breakdowns"]["dimension"]["shape"]["clipsim"] == pytest.approx(0.4)
    assert detector_auc([0.9, 0.7], [0.1, 0.8])["value"] == pytest.approx(0.75)
    assert detector_auc([0.9], [None]) is None
