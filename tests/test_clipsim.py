"""CLIPSIM: agreement with torchmetrics' CLIPScore on the same random-init open_clip model, local
checkpoints (local-dir folder, custom .json config + weights file, QuickGELU), state merging, errors."""

from __future__ import annotations

import json

import pytest
import torch
from eval_helpers import TINY_CLIP_CONFIG, OpenAIArchive, save_tiny_clip, world_clips

from eval.clipsim import CLIPSIM, clip_scores
from eval.encoders import load_clip, torchmetrics_clip
from eval.errors import EvalError, ModelFileError


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return load_clip(f"local-dir:{save_tiny_clip(tmp_path_factory.mktemp('clip') / 'tiny', seed=3)}")


def test_agrees_with_torchmetrics_clipscore_through_its_model_processor_callable(encoder):
    from torchmetrics.multimodal.clip_score import CLIPScore

    clips, prompts = world_clips(3, 1)
    ours = CLIPSIM(encoder, percent=True)
    ours.update(clips, prompts)
    theirs = CLIPScore(model_name_or_path=torchmetrics_clip(encoder))
    frames = torch.from_numpy(clips).flatten(0, 1).permute(0, 3, 1, 2)  # every frame, CHW
    theirs.update(frames, [p for p in prompts for _ in range(clips.shape[1])])
    expected = float(theirs.compute())
    assert expected > 1.0  # CLIPScore clamps its mean at 0: the comparison must stay away from the clamp
    assert abs(float(ours.compute()) - expected) <= 1e-5 * abs(expected)


def test_raw_cosine_by_default_percent_for_display_and_states_merge(encoder):
    clips, prompts = world_clips(4, 2)
    raw, percent, part = CLIPSIM(encoder), CLIPSIM(encoder, percent=True), CLIPSIM(encoder)
    raw.update(clips, prompts)
    percent.update(clips, prompts)
    per_clip = clip_scores(encoder, clips, prompts)
    assert per_clip.shape == (4,) and bool(((per_clip >= -1) & (per_clip <= 1)).all())
    assert float(raw.compute()) == pytest.approx(float(per_clip.double().mean()), abs=1e-7)
    assert float(percent.compute()) == pytest.approx(100 * float(raw.compute()), rel=1e-9)
    half = CLIPSIM(encoder)
    part.update(clips[:1], prompts[:1])
    half.update(clips[1:], prompts[1:])
    part.merge_state(half)
    assert float(part.compute()) == pytest.approx(float(raw.compute()), abs=1e-7)


def test_custom_json_config_with_a_checkpoint_file_and_quickgelu(tmp_path):
    import open_clip

    config_file = tmp_path / "synthvid-test-clip.json"
    config_file.write_text(json.dumps(TINY_CLIP_CONFIG))
    torch.manual_seed(5)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG, quick_gelu=True)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    encoder = load_clip(str(config_file), tmp_path / "weights.pt", quick_gelu=True)
    assert any(type(m).__name__ == "QuickGELU" for m in encoder.model.modules())
    assert torch.equal(encoder.model.state_dict()["text_projection"], model.state_dict()["text_projection"])
    clips, prompts = world_clips(1, 3)
    assert clip_scores(encoder, clips, prompts).shape == (1,)


def test_missing_or_remote_weights_are_one_line_errors(tmp_path):
    with pytest.raises(ModelFileError, match="never downloads") as info:
        load_clip("ViT-B-32", tmp_path / "absent.safetensors")
    assert str(info.value).startswith(f"{tmp_path / 'absent.safetensors'}: ") and "\n" not in str(info.value)
    with pytest.raises(EvalError, match="local files"):
        load_clip("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    with pytest.raises(EvalError, match="unknown open_clip model"):
        load_clip("ViT-Q-99")
    with pytest.raises(ModelFileError, match="open_clip_config.json"):
        load_clip(f"local-dir:{tmp_path}")


def test_one_prompt_per_clip_is_required(encoder):
    clips, prompts = world_clips(2, 4)
    with pytest.raises(EvalError, match="one prompt per clip"):
        clip_scores(encoder, clips, prompts[:1])


def test_shipped_tiny_clip_loads_offline_fits_the_size_budget_and_prefers_the_right_prompt():
    from eval.encoders import TINY_CLIP_DIR

    assert sum(f.stat().st_size for f in TINY_CLIP_DIR.iterdir()) <= 20 * 1024**2
    assert (TINY_CLIP_DIR / "MODEL_CARD.md").is_file()
    encoder = load_clip()  # synthvid-tiny-clip through open_clip's local-dir: schema
    clips, prompts = world_clips(6, 11, frames=4, size=64)
    matched = clip_scores(encoder, clips, prompts)
    mismatched = clip_scores(encoder, clips, prompts[1:] + prompts[:1])
    assert bool((matched > mismatched).all()), (matched, mismatched)


def test_openai_torchscript_checkpoints_load_and_give_the_original_embeddings(tmp_path, caplog):
    """OpenAI ships CLIP as TorchScript (ViT-B-32.pt), weights in float16; open_clip's weights_only
    torch.load refuses such a file. A small CLIP saved that way loads, and embeds as the original."""
    import numpy as np
    import open_clip
    from open_clip.model import convert_weights_to_lp

    from eval.encoders import ClipEncoder

    config = tmp_path / "tiny-openai.json"
    config.write_text(json.dumps({**TINY_CLIP_CONFIG, "quick_gelu": True}))
    torch.manual_seed(5)
    original = open_clip.CLIP(**TINY_CLIP_CONFIG, quick_gelu=True).eval()
    convert_weights_to_lp(original)  # float16 where OpenAI's files are
    torch.jit.save(torch.jit.script(OpenAIArchive(original, input_resolution=32, context_length=24)), str(tmp_path / "ViT-tiny.pt"))
    with pytest.raises(Exception, match="Weights only load failed|TorchScript"):
        torch.load(tmp_path / "ViT-tiny.pt", weights_only=True)  # what open_clip does with it
    loaded = load_clip(str(config), tmp_path / "ViT-tiny.pt")
    assert not [r for r in caplog.records if "initialized randomly" in r.getMessage() or "QuickGELU" in r.getMessage()]
    reference = ClipEncoder(original.float(), open_clip.get_tokenizer("tiny-openai"), "original")
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)
    assert torch.equal(loaded.encode_frames(frames), reference.encode_frames(frames))
    assert torch.equal(loaded.encode_text(["a red circle"]), reference.encode_text(["a red circle"]))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**TINY_CLIP_CONFIG, "embed_dim": 16}))
    with pytest.raises(ModelFileError, match="keys differ from open_clip other|expects") as info:
        load_clip(str(other), tmp_path / "ViT-tiny.pt")
    assert str(info.value).startswith(f"{tmp_path / 'ViT-tiny.pt'}: ") and "\n" not in str(info.value)
