"""The diffusers backend on tiny random TextToVideoSDPipeline and WanPipeline, built offline, saved with
save_pretrained and loaded back through ``DiffusionPipeline.from_pretrained``: generate → watermark →
H.264 → C2PA sign → register → verify TRUSTED; per-item generators; every output type to uint8; absent
weights offline; device, dtype and folder errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from provenance_helpers import keys  # noqa: F401 - session fixture: `synthvid keys init` output
from tiny_pipelines import one_thread, saved, tiny_text_to_video_sd_pipeline, tiny_wan_pipeline  # noqa: F401

from genkit.backends import DiffusersBackend, clips_to_uint8, load_backend
from genkit.errors import ModelError
from genkit.generate import Provenance, generator_id, item_seed, resolve_settings, run_generation
from genkit.suites import SuiteItem
from provenance.keys import load_signer, load_watermark_key
from provenance.media import read_video
from provenance.repository import ManifestRepository
from provenance.verify import verify_file

pytestmark = pytest.mark.slow  # diffusers pipelines built, saved, loaded and run end to end

PROMPTS = ["a red cat moving left", "a blue dog on the green background"]
# 48 px: above the watermark's minimum side; frame counts as the models' VAEs compress time (Wan: 4k+1).
SIZES = {"t2v": dict(frames=4, height=48, width=48), "wan": dict(frames=5, height=48, width=48)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {"t2v": saved(tiny_text_to_video_sd_pipeline(), root / "t2v"), "wan": saved(tiny_wan_pipeline(), root / "wan")}


@pytest.fixture
def provenance(keys, tmp_path):
    tools = Provenance(
        load_signer(keys.directory),
        load_watermark_key(keys.watermark_key),
        ManifestRepository(tmp_path / "manifests.sqlite"),
        keys.directory,
        created_keys=False,
    )
    yield tools
    tools.close()


@pytest.mark.parametrize("kind, pipeline_class", [("t2v", "TextToVideoSDPipeline"), ("wan", "WanPipeline")])
def test_pipeline_end_to_end_verifies_trusted(kind, pipeline_class, folders, provenance, keys, tmp_path, one_thread):
    backend = load_backend(str(folders[kind]), device="cpu", dtype="fp32")
    assert isinstance(backend, DiffusersBackend) and type(backend.pipe).__name__ == pipeline_class
    assert backend.model_id == f"local:{kind}"
    settings = resolve_settings(backend, **SIZES[kind], steps=2, guidance=5.0, fps=None, negative_prompt="blurry", base_seed=11)
    items = [SuiteItem(prompt, f"p{i}") for i, prompt in enumerate(PROMPTS)]
    run = run_generation(tmp_path / "run", backend, items, settings, provenance, config={"test": kind})

    assert [row["seed"] for row in run.rows] == [item_seed(11, 0, 0), item_seed(11, 1, 0)]
    tag = generator_id(backend.model_id, backend.revision).hex()
    for row, prompt in zip(run.rows, PROMPTS):
        assert row["prompt"] == row["model_prompt"] == prompt  # open prompts go to the model as written
        clip = read_video(run.root / row["path"])
        assert clip.frames.shape == (SIZES[kind]["frames"], 48, 48, 3)
        assert row["payload"].startswith(tag)
        verdict = verify_file(
            run.root / row["path"],
            trust_anchors_pem=keys.ca_cert.read_bytes(),
            repository=provenance.repository,
            watermark_key=provenance.watermark_key,
        )
        assert verdict.verdict.value == "TRUSTED", verdict.explanations
        assert verdict.manifest_label == row["manifest_id"] and verdict.soft_binding_payloads == [row["payload"]]
        assert verdict.ai_generated is True
        record = provenance.repository.lookup(row["payload"])
        assert record.manifest_label == row["manifest_id"] and record.file_sha256 == row["file_sha256"]
        generation = next(a["data"] for a in record.active_manifest["assertions"] if a["label"] == "org.synthvid.generation-parameters")
        assert generation["prompt"] == prompt and generation["negative_prompt"] == "blurry" and generation["seed"] == row["seed"]
    assert json.loads(run.run_path.read_text())["status"] == "complete"


def test_wan_per_item_generators_make_a_clip_independent_of_its_batch(folders, one_thread):
    import torch

    backend = load_backend(str(folders["wan"]), device="cpu")
    seeds = [item_seed(0, 0, 0), item_seed(0, 1, 0)]

    def clips(prompts, item_seeds):
        generators = [torch.Generator().manual_seed(seed) for seed in item_seeds]
        return backend.generate(prompts, generators, **SIZES["wan"], steps=2, guidance=5.0)

    together = clips(PROMPTS, seeds)
    alone = [clips([prompt], [seed])[0] for prompt, seed in zip(PROMPTS, seeds)]
    for batched, single in zip(together, alone):
        difference = np.abs(batched.astype(int) - single)
        assert difference.max() <= 1 and (difference == 0).mean() > 0.999
    assert not np.array_equal(clips([PROMPTS[0]], [seeds[1]])[0], alone[0])  # the seed, not the prompt alone, sets the noise


def test_every_output_type_gives_the_same_uint8_frames(folders, one_thread):
    import torch

    pipe = load_backend(str(folders["t2v"]), device="cpu").pipe
    outputs = {
        output_type: pipe(
            PROMPTS[:1],
            num_frames=3,
            height=40,
            width=40,
            num_inference_steps=2,
            generator=[torch.Generator().manual_seed(3)],
            output_type=output_type,
        ).frames
        for output_type in ("np", "pt", "pil")
    }
    assert isinstance(outputs["np"], np.ndarray) and isinstance(outputs["pt"], torch.Tensor) and isinstance(outputs["pil"], list)
    [reference] = clips_to_uint8(outputs["np"])
    assert reference.shape == (3, 40, 40, 3) and reference.dtype == np.uint8
    assert np.array_equal(clips_to_uint8(outputs["pt"])[0], reference)
    assert np.abs(clips_to_uint8(outputs["pil"])[0].astype(int) - reference).max() <= 1  # PIL conversion rounds on its own


def test_absent_weights_offline_is_one_line_exit_2_naming_what_to_get(tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "SYNTHVID_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [sys.executable, "-m", "genkit", "generate", "a cat surfing", "--model", "wan2.1-1.3b", "--out", "run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: wan2.1-1.3b: weights of Wan-AI/Wan2.1-T2V-1.3B-Diffusers are not in the Hugging Face cache")
    for needed in (str(tmp_path / "hf" / "hub"), "HF_HUB_OFFLINE=1", "hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "--model DIR", "HF_HOME"):
        assert needed in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "home").exists()  # no keys, no folder for nothing


def test_folder_device_and_offload_mistakes_are_one_line_errors(folders, tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(ModelError) as caught:
        load_backend(str(tmp_path / "notes"))
    assert (
        str(caught.value)
        == f"{tmp_path / 'notes'}: not a diffusers pipeline folder (no model_index.json); save one with pipe.save_pretrained(folder)"
    )
    with pytest.raises(ModelError, match="needs --device cuda"):
        load_backend(str(folders["t2v"]), device="cpu", cpu_offload=True)
    with pytest.raises(ModelError, match="--device .tpu.: use one of auto, cpu, cuda, mps"):
        load_backend(str(folders["t2v"]), device="tpu")
    with pytest.raises(ModelError, match="not a known model name"):
        load_backend("no-such-model")
