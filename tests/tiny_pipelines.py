"""Tiny randomly initialised text-to-video pipelines, built from configs fully offline.

Each builder returns a real diffusers pipeline small enough to run 2 steps on a few frames in well
under a second on one CPU thread: synthvid-tiny (SynthvidTinyPipeline), TextToVideoSDPipeline (the
components of diffusers' own fast test, with the CLIP tokenizer shipped in tests/data) and WanPipeline
(diffusers' fast-test transformer and VAE, a tiny UMT5 encoder and a word-level tokenizer built here).
Imported by test_generate and test_diffusers_backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CLIP_TOKENIZER = Path(__file__).parent / "data" / "tiny-clip-tokenizer"
TINY_UNET = dict(
    block_channels=(8, 16),
    blocks_per_level=(1, 1),
    cross_attention_levels=(False, True),
    temporal_attention_levels=(False, True),
    context_dim=128,  # the width of build_text_encoder()'s CLIP
    time_embed_dim=32,
    patch_size=2,
)
WAN_WORDS = "a an the red green blue cat dog circle square moving left right on background".split()


def tiny_synthvid_pipeline():
    import torch

    from genkit.tiny.train import build_pipeline

    torch.manual_seed(0)
    return build_pipeline(TINY_UNET)


def tiny_text_to_video_sd_pipeline():
    """TextToVideoSDPipeline with the components of diffusers' fast test (UNet3D, 1-block VAE, CLIP)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER)
    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=4,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False)
    vae = AutoencoderKL(
        block_out_channels=(8,),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=32,
        norm_num_groups=2,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=4,
            intermediate_size=16,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            projection_dim=32,
        )
    )
    return TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)


def wan_tokenizer():
    """A word-level fast tokenizer (T5 conventions: ``</s>`` ends, ``<pad>`` is 0) over :data:`WAN_WORDS`."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(["<pad>", "</s>", "<unk>", *WAN_WORDS])}
    core = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=16)


def tiny_wan_pipeline():
    """WanPipeline with the transformer and VAE of diffusers' fast test and a tiny UMT5 encoder."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = wan_tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
    )


def saved(pipe, folder: Path) -> Path:
    """``pipe.save_pretrained(folder)`` (safetensors), returning the folder."""
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture
def one_thread():
    """One torch thread for the test: on 2 shared cores, 2 threads of tiny kernels mostly wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
