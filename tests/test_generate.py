"""``synthvid generate`` with synthvid-tiny: seeds per item, frames to uint8, resizing, and the CLI end to
end (generate → watermark → H.264 → sign → register → verify TRUSTED), on a tiny random pipeline saved
with save_pretrained; bad prompts, --no-provenance and missing weights."""

from __future__ import annotations

import json
import math
import stat
from dataclasses import replace

import numpy as np
import pytest
from tiny_pipelines import one_thread, saved, tiny_synthvid_pipeline  # noqa: F401 - fixture

from genkit.backends import clips_to_uint8, load_backend
from genkit.errors import ModelError
from genkit.generate import Settings, generate_batch, generator_id, item_seed, plan_clips
from genkit.suites import SuiteItem
from provenance.media import frames_sha256, read_video
from provenance.repository import ManifestRepository

PROMPTS = ["a red circle moving left on a blue background", "a big yellow star standing still on a black background"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return saved(tiny_synthvid_pipeline(), tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def tiny(tiny_folder):
    return load_backend(str(tiny_folder), device="cpu")


def generate(backend, requests, **settings):
    import torch

    settings = {"frames": 4, "height": 40, "width": 40, "steps": 2, "guidance": 4.0, **settings}
    generators = [torch.Generator().manual_seed(request.seed) for request in requests]
    return backend.generate([request.model_prompt for request in requests], generators, **settings)


def test_item_seeds_depend_only_on_base_prompt_and_sample():
    seeds = {(i, k): item_seed(7, i, k) for i in range(20) for k in range(5)}
    assert len(set(seeds.values())) == len(seeds)  # no two items share a seed
    assert all(0 <= seed < 2**63 for seed in seeds.values())
    assert item_seed(7, 3, 2) == seeds[3, 2]  # stable
    assert item_seed(8, 3, 2) != seeds[3, 2]
    items = [SuiteItem(p, f"p{i}") for i, p in enumerate(PROMPTS)]
    plan = plan_clips(items, PROMPTS, 2, base_seed=7)
    assert [(r.prompt_index, r.sample_index, r.clip_name) for r in plan] == [(0, 0, "p0-0"), (0, 1, "p0-1"), (1, 0, "p1-0"), (1, 1, "p1-1")]
    assert [r.seed for r in plan] == [seeds[0, 0], seeds[0, 1], seeds[1, 0], seeds[1, 1]]
    assert [r.clip_name for r in plan_clips(items, PROMPTS, 1, 7)] == ["p0", "p1"]


@pytest.mark.slow
def test_a_clip_does_not_depend_on_its_batch(one_thread):
    """Each clip gets its own model call: the shipped synthvid-tiny's frames are bit-identical alone, in a
    batch of 4, in the reversed batch and on 2 threads. (With --batched-forward one call serves the
    batch; measured here, 2 of these 4 clips then came out with pixels a level apart.)"""
    import torch

    shipped = load_backend("synthvid-tiny", device="cpu")
    plan = plan_clips([SuiteItem(p, str(i)) for i, p in enumerate(PROMPTS)], [shipped.model_prompt(p) for p in PROMPTS], 2, 0)
    settings = Settings(frames=8, height=64, width=64, fps=8.0, steps=4, guidance=4.0, batch_size=4)
    batched, seconds = generate_batch(shipped, plan, settings)
    assert len(seconds) == len(plan) and all(s > 0 for s in seconds)
    alone = [generate_batch(shipped, [request], settings)[0][0] for request in plan]
    backwards = generate_batch(shipped, plan[::-1], settings)[0][::-1]
    torch.set_num_threads(2)
    try:
        two_threads = generate_batch(shipped, plan, settings)[0]
    finally:
        torch.set_num_threads(1)
    for together, single, reverse, threads in zip(batched, alone, backwards, two_threads):
        assert frames_sha256(together) == frames_sha256(single) == frames_sha256(reverse) == frames_sha256(threads)
    assert np.abs(batched[0].astype(int) - batched[1]).mean() > 0.5  # another seed is another clip (the circle elsewhere)
    one_call = generate_batch(shipped, plan, replace(settings, batched_forward=True))[0]
    for together, single in zip(one_call, alone):  # float kernels of another batch shape: a rare level apart
        difference = np.abs(together.astype(int) - single)
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_tiny_samples_at_32_and_resizes_to_the_requested_size(tiny, one_thread):
    [request] = plan_clips([SuiteItem(PROMPTS[0], "0")], [PROMPTS[0]], 1, 0)
    [clip] = generate(tiny, [request], frames=3, height=48, width=80)
    assert clip.shape == (3, 48, 80, 3) and clip.dtype == np.uint8
    assert tiny.defaults.height == tiny.defaults.width == 64 and tiny.native_size == 32


def test_frames_become_uint8_by_rounding_from_any_pipeline_output():
    import torch
    from PIL import Image

    levels = np.arange(256, dtype=np.float32).reshape(1, 1, 16, 16, 1).repeat(3, axis=-1)
    floats = (levels + 0.6) / 255  # truncation would give `levels`, rounding gives levels + 1 (clipped at 255)
    expected = np.minimum(levels + 1, 255).astype(np.uint8)[0]
    [from_numpy] = clips_to_uint8(floats)
    assert np.array_equal(from_numpy, expected)
    [from_torch] = clips_to_uint8(torch.from_numpy(floats).permute(0, 1, 4, 2, 3))  # diffusers' "pt": [B, T, C, H, W]
    assert np.array_equal(from_torch, expected)
    [from_pil] = clips_to_uint8([[Image.fromarray(expected[0])]])
    assert np.array_equal(from_pil, expected)
    [grey] = clips_to_uint8(floats[..., :1])
    assert np.array_equal(grey, expected)
    with pytest.raises(ModelError, match="returned 1 clips for 2 prompts"):
        clips_to_uint8(floats, count=2)


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """The umbrella CLI in this process (torch and diffusers are imported once for all tests), in
    ``tmp_path`` with ``$SYNTHVID_HOME`` there: ``cli(*argv) -> (exit code, stdout, stderr)``."""
    from genkit.cli import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNTHVID_HOME", str(tmp_path / "home"))

    def call(*argv):
        code = run([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def run_json(code, out, err) -> dict:
    assert code == 0, err
    return json.loads(out)


def test_cli_generates_signed_registered_clips_that_verify_trusted(cli, tiny_folder, tmp_path):
    (tmp_path / "two.txt").write_text("\n".join(PROMPTS) + "\n")
    code, out, err = cli(
        "generate", "--suite", "two.txt", "--model", tiny_folder, "--out", "run", "--steps", "2", "--seed", "5", "--threads", "1", "--json"
    )
    summary = run_json(code, out, err)
    keys = tmp_path / "home" / "keys"
    assert f"created signing keys in {keys}" in " ".join(err.split())
    for secret in ("ca.key", "signer.key", "watermark.key"):
        assert stat.S_IMODE((keys / secret).stat().st_mode) == 0o600
    rows = summary["rows"]
    assert summary["count"] == 2 and summary["provenance"] is True
    assert [row["prompt_id"] for row in rows] == ["0000", "0001"]
    assert [row["seed"] for row in rows] == [item_seed(5, 0, 0), item_seed(5, 1, 0)]
    assert rows[1]["model_prompt"] == "a large yellow star standing still on a black background"  # canonical wording
    tag = generator_id(rows[0]["model_id"], rows[0]["model_revision"]).hex()
    for row in rows:
        assert row["payload"].startswith(tag) and len(row["payload"]) == 16
        clip = read_video(tmp_path / "run" / row["path"])
        assert clip.frames.shape == (8, 64, 64, 3) and clip.fps == 8.0
        for stage in ("generate", "watermark", "encode", "sign", "register"):
            assert row[f"{stage}_seconds"] >= 0
    assert rows[0]["payload"] != rows[1]["payload"]
    with ManifestRepository(tmp_path / "home" / "manifests.sqlite", create=False) as repository:
        records = [repository.lookup(row["payload"]) for row in rows]
    assert [record.manifest_label for record in records] == [row["manifest_id"] for row in rows]
    generation = next(a for a in records[0].active_manifest["assertions"] if a["label"] == "org.synthvid.generation-parameters")
    assert generation["data"]["seed"] == rows[0]["seed"] and generation["data"]["prompt"] == PROMPTS[0]

    code, out, err = cli("verify", *(f"run/{row['path']}" for row in rows), "--json")
    assert code == 0, out + err
    verdicts = json.loads(out)
    assert [v["verdict"] for v in verdicts] == ["TRUSTED", "TRUSTED"]
    assert [v["manifest_label"] for v in verdicts] == [row["manifest_id"] for row in rows]
    assert [v["soft_binding_payloads"] for v in verdicts] == [[row["payload"]] for row in rows]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and record["config"]["provenance"]["generator_id"] == tag


def test_cli_refuses_a_prompt_outside_the_shapes_world_in_one_line(synthvid, tmp_path, monkeypatch):
    """As a user runs it (a subprocess): fails at once, before keys, weights or folders."""
    monkeypatch.setenv("SYNTHVID_HOME", str(tmp_path / "home"))
    done = synthvid("generate", "a purple cat playing the piano", "--out", "run")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: prompt 'a purple cat playing the piano': synthvid-tiny knows only the shapes-world grammar")
    assert "COLOR: red, green" in line and "SHAPE: circle" in line  # the vocabulary, to fix the prompt
    assert not (tmp_path / "run").exists() and not (tmp_path / "home").exists()


def test_cli_suite_prompt_error_names_file_and_prompt(cli, tmp_path):
    (tmp_path / "bad.txt").write_text(PROMPTS[0] + "\na red circle dancing\n")
    code, _, err = cli("generate", "--suite", "bad.txt", "--out", "run")
    assert code == 2
    assert err.startswith("error: bad.txt: prompt 0001: prompt 'a red circle dancing': synthvid-tiny knows only")


def test_cli_no_provenance_warns_and_writes_unsigned_clips(cli, tiny_folder, tmp_path):
    code, out, err = cli(
        "generate", PROMPTS[0], "--model", tiny_folder, "--out", "run", "--steps", "2", "--threads", "1", "--no-provenance", "--json"
    )
    summary = run_json(code, out, err)
    assert "warning: --no-provenance" in err and "no watermark" in err
    [row] = summary["rows"]
    assert summary["provenance"] is False and row["payload"] is None and row["manifest_id"] is None
    assert row["encode_seconds"] > 0 and row["watermark_seconds"] is None and row["sign_seconds"] is None
    assert read_video(tmp_path / "run" / row["path"]).frames.shape == (8, 64, 64, 3)
    assert not (tmp_path / "home").exists()  # no keys made, no repository touched
    code, out, _ = cli("verify", f"run/{row['path']}", "--json")
    assert code == 1 and json.loads(out)[0]["verdict"] == "NO_PROVENANCE"


def test_cli_model_folder_without_a_pipeline_is_one_line_exit_2(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = cli("generate", PROMPTS[0], "--model", "empty", "--out", "run")
    assert code == 2
    assert err.strip().splitlines() == [
        "error: empty: not a diffusers pipeline folder (no model_index.json); save one with pipe.save_pretrained(folder)"
    ]
    assert not (tmp_path / "run").exists() and not (tmp_path / "home").exists()


def test_cli_train_tiny_runs_exports_and_refuses_a_missing_checkpoint(cli, tiny_folder, tmp_path):
    code, out, err = cli(
        "train",
        "tiny",
        "--minutes",
        "5",
        "--max-steps",
        "1",
        "--eval-every",
        "0",
        "--threads",
        "1",
        "--lr",
        "2e-4",
        "--init-from",
        tiny_folder,
        "--out",
        "train",
        "--json",
    )
    result = run_json(code, out, err)
    assert result["steps"] == 1 and result["pipeline"] == "train/pipeline"
    assert (tmp_path / "train" / "checkpoint.pt").is_file()
    state = json.loads((tmp_path / "train" / "pipeline" / "training_state.json").read_text())
    assert state["steps"] == 1 and state["config"]["init_from"] == str(tiny_folder) and state["config"]["lr"] == 2e-4
    import torch

    optimiser = torch.load(tmp_path / "train" / "checkpoint.pt", weights_only=False)["optimizer"]
    assert optimiser["param_groups"][0]["lr"] == pytest.approx(2e-4 / 200)  # the first warm-up step of --lr
    assert load_backend(str(tmp_path / "train" / "pipeline"), device="cpu").model_id == "synthvid-tiny:pipeline"

    code, _, err = cli("train", "tiny", "--minutes", "1", "--out", "elsewhere", "--resume")
    assert code == 2
    assert err.strip() == "error: elsewhere: --resume needs elsewhere/checkpoint.pt, which does not exist (drop --resume to start a new run)"
    (tmp_path / "wan").mkdir()
    (tmp_path / "wan" / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    code, _, err = cli("train", "tiny", "--minutes", "1", "--init-from", "wan")
    assert code == 2 and err.startswith("error: wan: not a synthvid-tiny pipeline folder")


def test_cli_refuses_a_size_the_watermark_cannot_carry_before_any_clip(cli, tiny_folder, tmp_path):
    code, _, err = cli("generate", PROMPTS[0], "--model", tiny_folder, "--out", "run", "--height", "24", "--width", "24")
    assert code == 2
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert line.startswith("error: --height 24 --width 24: ") and "too small" in line and line.endswith("or pass --no-provenance")
    assert not (tmp_path / "run").exists()


def test_generate_and_train_help_show_an_example_and_the_models(cli):
    code, out, _ = cli("generate", "--help")
    text = " ".join(out.replace("│", " ").split())
    assert code == 0 and "Example: synthvid generate --suite shapes-smoke --out runs/gen" in text
    for name in ("wan2.1-1.3b", "cogvideox-2b", "ltx-video", "zeroscope", "modelscope", "--no-provenance", "--cpu-offload"):
        assert name in text
    code, out, _ = cli("train", "tiny", "--help")
    assert code == 0 and "Example: synthvid train tiny --minutes 60" in " ".join(out.replace("│", " ").split())


def test_init_from_adds_frame_conditioning_and_coordinates_without_changing_the_model_and_it_loads_back(tiny_folder, tmp_path, one_thread):
    import torch

    from genkit.tiny import SynthvidTinyPipeline
    from genkit.tiny.train import UPGRADES, TrainConfig, Trainer

    new_modules = tuple(UPGRADES.values())
    before = SynthvidTinyPipeline.from_pretrained(tiny_folder).unet
    assert before.config.frame_positions is False and before.frame_position is None and before.frame_text_mixer is None
    assert before.config.coordinate_channels is False
    trainer = Trainer(TrainConfig(out=str(tmp_path / "train"), init_from=str(tiny_folder), threads=1), resume=False)
    after = trainer.pipe.unet
    assert after.config.frame_positions is True and after.config.frame_text_mixing is True and after.config.coordinate_channels is True
    assert all(trainer.cfg.unet[key] is True for key in UPGRADES)
    old_input = before.conv_in.weight.shape[1]
    assert after.conv_in.weight.shape[1] > old_input and not after.conv_in.weight[:, old_input:].any()

    torch.manual_seed(1)
    with torch.no_grad():  # a fresh model zero-initialises its residual branches: make both "trained" alike
        for name, parameter in after.named_parameters():
            if not name.startswith(new_modules):
                parameter.normal_(0.0, 0.05)
    old_shapes = {key: value.shape for key, value in before.state_dict().items()}
    before.load_state_dict({k: v[tuple(slice(0, n) for n in old_shapes[k])] for k, v in after.state_dict().items() if k in old_shapes})
    sample, context, pooled = torch.randn(2, 3, 5, 16, 16), torch.randn(2, 4, 128), torch.randn(2, 128)
    with torch.no_grad():
        reference = before(sample, 500, context, pooled).sample
        assert torch.equal(after(sample, 500, context, pooled).sample, reference)  # zero-initialised: same function
        torch.nn.init.normal_(after.frame_text_mixer[2].weight, std=0.5)
        mixed = after(sample, 500, context, pooled).sample
        assert not torch.allclose(mixed, reference, atol=1e-4)  # the mixer is wired in
        torch.nn.init.normal_(after.frame_position.weight, std=1.0)
        moved = after(sample, 500, context, pooled).sample
        assert not torch.allclose(moved, mixed, atol=1e-4)  # and so are the frame positions
        after.conv_in.weight[:, old_input:].normal_(0.0, 0.5)
        placed = after(sample, 500, context, pooled).sample
    assert not torch.allclose(placed, moved, atol=1e-4)  # and the coordinates

    trainer.pipe.save_pretrained(tmp_path / "saved", safe_serialization=True)
    loaded = SynthvidTinyPipeline.from_pretrained(tmp_path / "saved").unet
    with torch.no_grad():
        assert loaded.config.coordinate_channels is True and torch.equal(loaded(sample, 500, context, pooled).sample, placed)


def test_coordinate_channels_let_a_flat_input_tell_left_from_right():
    """What zero padding alone cannot reach: away from the borders a flat input gives the same output at
    every place unless the network is given its coordinates."""
    import torch

    from genkit.tiny.unet import TinyVideoUNet, pixel_coordinates

    coords = pixel_coordinates(4, 6)
    assert coords.shape == (1, 2, 4, 6)
    assert torch.equal(coords[0, 0, 0], torch.linspace(-1, 1, 6)) and torch.equal(coords[0, 1, :, 0], torch.linspace(-1, 1, 4))
    torch.manual_seed(0)
    unet = TinyVideoUNet(
        block_channels=(16, 32),
        blocks_per_level=(1, 1),
        cross_attention_levels=(False, False),
        patch_size=2,
        temporal_attention_levels=(False, False),
        context_dim=8,
        time_embed_dim=32,
        coordinate_channels=True,
    )

    def interior_blocks():  # two 8-px blocks one stride apart (8 = patch 2 × downsampling 2 × 2), far from the borders
        out = unet(torch.zeros(1, 3, 2, 96, 96), 500, torch.zeros(1, 3, 8), torch.zeros(1, 8)).sample
        return out[..., 40:48, 40:48], out[..., 40:48, 48:56]

    with torch.no_grad():
        for parameter in unet.parameters():  # "trained": every zero-initialised branch gets weights
            parameter.normal_(0.0, 0.1)
        left, right = interior_blocks()
        assert not torch.allclose(left, right, atol=1e-3)
        unet.conv_in.weight[:, 3 * 4 :] = 0
        left, right = interior_blocks()
    assert torch.allclose(left, right, atol=1e-5)


def test_the_frame_text_mixer_lets_the_prompt_change_frames_differently():
    """What additive FiLM cannot do: the change a prompt makes to the first and the last frame's conditioning differ."""
    import torch

    from genkit.tiny.unet import TinyVideoUNet

    torch.manual_seed(0)
    unet = TinyVideoUNet(
        block_channels=(16, 32),
        blocks_per_level=(1, 1),
        cross_attention_levels=(False, False),
        temporal_attention_levels=(False, False),
        context_dim=8,
        time_embed_dim=32,
        frame_text_mixing=True,
    )
    torch.nn.init.normal_(unet.frame_text_mixer[2].weight, std=0.5)
    captured = {}
    handle = unet.frame_text_mixer.register_forward_hook(lambda module, inputs, output: captured.setdefault("term", output))
    with torch.no_grad():
        unet(torch.zeros(2, 3, 4, 8, 8), 500, torch.zeros(2, 3, 8), torch.randn(2, 8))
    handle.remove()
    term = captured["term"].reshape(2, 4, -1)  # [prompt, frame, embedding]
    change_first, change_last = term[1, 0] - term[0, 0], term[1, -1] - term[0, -1]
    assert not torch.allclose(change_first, change_last, atol=1e-4)


def test_v_loss_weight_is_min_snr_with_a_floor_at_high_noise():
    import torch

    from genkit.tiny.train import v_loss_weight

    snr = torch.tensor([1e-3, 0.1, 1.0, 4.0, 100.0])
    plain = v_loss_weight(snr, gamma=5.0)
    assert torch.allclose(plain * (snr + 1), torch.clamp(snr, max=5.0))  # x0 weight min(SNR, γ)
    floored = v_loss_weight(snr, gamma=5.0, floor=0.25)
    assert torch.allclose(floored * (snr + 1), torch.tensor([0.25, 0.25, 1.0, 4.0, 5.0]))
    assert floored[0] > 200 * plain[0]  # the noisiest steps count again


def test_direction_contrast_is_log2_for_a_time_symmetric_model_and_pushes_the_reversal_away():
    import torch

    from genkit.tiny.train import CONTRAST_SCALE, direction_contrast_loss

    same = torch.tensor([0.02, 0.5])
    assert direction_contrast_loss(same, same.clone()).item() == pytest.approx(math.log(2))
    clip, reversed_ = torch.tensor([0.02], requires_grad=True), torch.tensor([0.02], requires_grad=True)
    direction_contrast_loss(clip, reversed_).backward()
    assert clip.grad.item() > 0 > reversed_.grad.item()  # lower the clip's loss, raise the reversal's
    told_apart = direction_contrast_loss(torch.tensor([0.02]), torch.tensor([0.02 * (1 + 10 * CONTRAST_SCALE)]))
    assert told_apart.item() < 0.02  # a clear gap stops the push
    assert direction_contrast_loss(torch.tensor([0.02]), torch.tensor([0.02 * (1 - 10 * CONTRAST_SCALE)])).item() > 5


def test_a_training_step_contrasts_moving_clips_with_their_time_reversal(tiny_folder, tmp_path, one_thread):
    import torch

    from genkit.tiny.train import TrainConfig, Trainer, training_noise_schedule

    noise_schedule = training_noise_schedule()
    video, noise, t = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 3, 4, 8, 8), torch.tensor([700, 900])
    # What the step relies on: reversing clip and noise reverses the noisy clip and the v target.
    assert torch.allclose(noise_schedule.add_noise(video.flip(2), noise.flip(2), t), noise_schedule.add_noise(video, noise, t).flip(2))
    assert torch.allclose(noise_schedule.get_velocity(video.flip(2), noise.flip(2), t), noise_schedule.get_velocity(video, noise, t).flip(2))

    trainer = Trainer(
        TrainConfig(out=str(tmp_path / "train"), init_from=str(tiny_folder), threads=1, batch_size=4, direction_contrast=0.5), resume=False
    )
    contrasts = [trainer.train_step(trainer.loop.rng, trainer.loop.step + i)["contrast"] for i in range(4)]
    assert any(c > 0 for c in contrasts) and all(math.isfinite(c) for c in contrasts)
    plain = Trainer(TrainConfig(out=str(tmp_path / "plain"), init_from=str(tiny_folder), threads=1, batch_size=4), resume=False)
    assert all(plain.train_step(plain.loop.rng, plain.loop.step + i)["contrast"] == 0 for i in range(2))


def test_synthvid_tiny_training_stopped_and_resumed_ends_where_a_straight_run_does(tmp_path, one_thread):
    """The whole state (UNet, text encoder, aux heads, optimiser, EMA, data stream, torch's random state)
    goes through the shared loop's checkpoint."""
    import torch
    from tiny_pipelines import TINY_UNET

    from eval.training import load_checkpoint
    from genkit.tiny.train import TrainConfig, train

    def config(name: str, steps: int) -> TrainConfig:
        return TrainConfig(
            out=str(tmp_path / name),
            minutes=5,
            max_steps=steps,
            batch_size=2,
            frames=4,
            size=16,
            warmup_steps=2,
            eval_every_steps=0,
            threads=1,
            unet=dict(TINY_UNET),
        )

    train(config("straight", 3))
    train(config("split", 1))
    assert train(config("split", 3), resume=True) == tmp_path / "split" / "pipeline"
    straight, split = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("straight", "split"))
    assert straight.keys() == split.keys() >= {"unet", "text_encoder", "aux", "optimizer", "ema", "config", "numpy_rng", "torch_rng"}
    assert straight["numpy_rng"] == split["numpy_rng"]
    for key in straight.keys() - {"seconds", "config", "numpy_rng"}:
        torch.testing.assert_close(straight[key], split[key], rtol=0, atol=0, msg=key)
    assert json.loads((tmp_path / "split" / "pipeline" / "training_state.json").read_text())["steps"] == 3


def _benchmark(name: str):
    from bench_helpers import load_script

    return load_script(name)


@pytest.mark.slow
def test_tiny_direction_scores_a_time_symmetric_model_zero_and_a_trained_like_one_not(tiny_folder, tmp_path, one_thread):
    import torch

    from genkit.tiny import SynthvidTinyPipeline

    direction = _benchmark("tiny_direction")
    # A fresh model's residual branches and output start at zero: it ignores the prompt and frame order.
    fresh = direction.measure(tiny_folder, clips=4, seed=1)
    assert all(value == 0 for key, value in fresh.items() if key.startswith(("loss gap", "time asymmetry")))
    pipe = SynthvidTinyPipeline.from_pretrained(tiny_folder)
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in pipe.unet.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    pipe.save_pretrained(tmp_path / "perturbed", safe_serialization=True)
    perturbed = direction.measure(tmp_path / "perturbed", clips=4, seed=1)
    assert min(value for key, value in perturbed.items() if key.startswith("time asymmetry")) > 0.001  # its temporal convs are not symmetric
    assert any(perturbed[key] != 0 for key in perturbed if key.startswith("loss gap"))

    out = tmp_path / "direction.md"
    assert direction.main(["--model", str(tiny_folder), "--clips", "4", "--threads", "1", "--out", str(out)]) == 0
    assert "| time asymmetry t=700 | 0.0 % |" in out.read_text()
    assert direction.main(["--model", str(tmp_path), "--out", str(out)]) == 2  # not a pipeline folder
