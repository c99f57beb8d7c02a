"""The interoperability table's logic (benchmarks/c2pa_interop.py) on a few third-party fixtures:
synthvid agrees with c2pa-rs or says more, never less. Skipped where ../shared/c2pa-fixtures is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "c2pa-fixtures"
pytestmark = pytest.mark.skipif(not (FIXTURES / "video").is_dir(), reason="../shared/c2pa-fixtures is absent")


@pytest.fixture(scope="module")
def interop():
    return load_script("c2pa_interop")


SAMPLE = [
    "rs_video1.mp4",
    "rs_video1_hist_4da59ce.mp4",
    "rs_bench_100kb-signed.mp4",
    "rs_dashinit.mp4",
    "rs_dash1.m4s",
    "rs_test.avi",
    "rs_C_with_CAWG_data.jpg",
    "pt_adobe-20220124-E-clm-CAICAI.jpg",
    "py_sample1_signed.wav",
    "rs_sample3.invalid.wav",
    "rs_video1_hist_5d831a5.mp4",
]


def test_a_sample_of_fixtures_agrees_with_c2pa_rs(interop):
    rows = interop.run(FIXTURES, only=SAMPLE)
    assert {r.file.split("/")[1].split(" + ")[0] for r in rows} == set(SAMPLE)
    assert not [r for r in rows if r.agreement == "DISAGREES"], [(r.file, r.trust, r.reason) for r in rows if r.agreement == "DISAGREES"]
    by = {(r.file, r.trust): r for r in rows}
    trusted = by[("video/rs_video1_hist_4da59ce.mp4", "rs_test_cert_root_bundle.pem")]
    assert (trusted.c2pa.state, trusted.synthvid.verdict) == ("Trusted", "TRUSTED")
    dash = by[("video/rs_dashinit.mp4 + rs_dash1.m4s", "none")]
    assert (dash.c2pa.state, dash.synthvid.verdict, dash.agreement) == ("Valid", "UNTRUSTED_SIGNER", "agrees")
    lone = by[("video/rs_dashinit.mp4", "none")]
    assert lone.synthvid.exit_code == 2 and lone.agreement == "says more"
    assert by[("img/rs_C_with_CAWG_data.jpg", "rs_test_cert_root_bundle.pem")].synthvid.verdict == "UNTRUSTED_SIGNER"


def test_the_table_is_written_with_its_summary(interop, tmp_path):
    out = tmp_path / "interop.md"
    assert interop.main(["--fixtures", str(FIXTURES), "--out", str(out)]) == 0
    text = out.read_text()
    assert "0 disagree" in text and "| file | trust | c2pa-rs | synthvid | agreement | why |" in text
