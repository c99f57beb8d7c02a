"""SynthvidTinyPipeline: the embedded text-to-video model as a real diffusers pipeline.

Components: ``tokenizer`` (word-level, shapes-world vocabulary), ``text_encoder`` (small
``CLIPTextModel``), ``unet`` (:class:`~genkit.tiny.unet.TinyVideoUNet`, pixel space) and ``scheduler``
(any diffusers scheduler; v-prediction). ``save_pretrained`` / ``from_pretrained`` work as for any
diffusers pipeline. Output follows ``TextToVideoSDPipeline``: ``frames`` float in [0, 1],
``[B, F, H, W, 3]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from tqdm.auto import tqdm

# diffusers resolves the custom UNet by module name and only from modules already imported.
import genkit.tiny.unet  # noqa: F401,E402

DEFAULT_FRAMES = 8
DEFAULT_SIZE = 32
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 4.0


@dataclass
class TinyPipelineOutput(BaseOutput):
    frames: np.ndarray | torch.Tensor


class SynthvidTinyPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->unet"

    def __init__(self, tokenizer, text_encoder, unet, scheduler):
        super().__init__()
        self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, unet=unet, scheduler=scheduler)

    @torch.inference_mode()
    def encode_prompt(self, prompts: list[str]):
        """Token states ``[B, L, D]``, pooled states ``[B, D]`` and the attention mask of ``prompts``."""
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt").to(
            self.device
        )
        out = self.text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)
        return out.last_hidden_state, out.pooler_output, tokens.attention_mask

    @torch.inference_mode()
    def __call__(
        self,
        prompt: str | list[str],
        num_frames: int = DEFAULT_FRAMES,
        height: int = DEFAULT_SIZE,
        width: int = DEFAULT_SIZE,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        negative_prompt: str | list[str] | None = None,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        progress: bool = False,
    ):
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [p for p in prompts for _ in range(num_videos_per_prompt)]
        batch = len(prompts)
        negatives = negative_prompt if negative_prompt is not None else ""
        negatives = [negatives] * batch if isinstance(negatives, str) else [n for n in negatives for _ in range(num_videos_per_prompt)]
        use_cfg = guidance_scale > 1.0
        states, pooled, mask = self.encode_prompt(negatives + prompts if use_cfg else prompts)
        dtype = self.unet.dtype
        shape = (batch, self.unet.config.in_channels, num_frames, height, width)
        if latents is None:
            if isinstance(generator, list):
                latents = torch.cat([torch.randn((1, *shape[1:]), generator=g, dtype=torch.float32) for g in generator])
            else:
                latents = torch.randn(shape, generator=generator, dtype=torch.float32)
        latents = latents.to(self.device, dtype) * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        for t in tqdm(self.scheduler.timesteps, disable=not progress, desc="denoising"):
            model_input = torch.cat([latents] * 2) if use_cfg else latents
            model_input = self.scheduler.scale_model_input(model_input, t)
            pred = self.unet(model_input, t, states.to(dtype), pooled.to(dtype), mask).sample
            if use_cfg:
                uncond, cond = pred.chunk(2)
                pred = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(pred, t, latents).prev_sample
        video = ((latents.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1)  # [B, F, H, W, 3]
        if output_type == "np":
            video = video.cpu().numpy()
        elif output_type != "pt":
            raise ValueError(f"output_type must be 'np' or 'pt', got {output_type!r}")
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return TinyPipelineOutput(frames=video)
