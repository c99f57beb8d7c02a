"""Generation backends: one interface over the embedded synthvid-tiny and any diffusers text-to-video pipeline.

A backend turns prompts into clips::

    backend = load_backend("synthvid-tiny")          # or "wan2.1-1.3b", a hub id, a local folder
    clips = backend.generate(prompts, generators, frames=8, height=64, width=64, steps=25, guidance=4.0)
    # one uint8 [T, H, W, 3] RGB array per prompt

``generators`` holds one ``torch.Generator`` per prompt, so each clip's noise depends only on its own
seed, never on the batch it was generated in (:func:`genkit.generate.item_seed` derives the seeds).

:func:`load_backend` resolves ``model`` in this order:

1. ``synthvid-tiny``: the embedded model, from the weights shipped in the package
   (``genkit/tiny/synthvid-tiny``), or ``--model DIR`` for any folder saved by ``synthvid train tiny``
   (a folder whose ``model_index.json`` names ``SynthvidTinyPipeline``);
2. an existing folder holding a diffusers pipeline (``model_index.json``): loaded with
   ``DiffusionPipeline.from_pretrained``, whatever its class (WanPipeline, CogVideoXPipeline,
   LTXPipeline, AnimateDiffPipeline, TextToVideoSDPipeline, ...);
3. a friendly name of :data:`MODELS` (``wan2.1-1.3b``, ``cogvideox-2b``, ``ltx-video``, ``zeroscope``,
   ``modelscope``, ...) → its hub id;
4. a hub id (``owner/name``): fetched into the Hugging Face cache, or found there when
   ``HF_HUB_OFFLINE=1``.

When weights are absent the one-line :class:`~genkit.errors.ModelError` says what to download (the hub
id), how, where it goes and which flag points at it.

The tiny backend samples at the model's native 32×32 (it was trained there) and resizes to the
requested size with bicubic interpolation (antialiased kernel, in float before rounding). Default
output is 64×64: an exact 2× upscale, above the smallest frame the watermark accepts (its minimum side,
32 px today). Bicubic was chosen by measurement:
upscaling shapes-world clips rendered at 32 to 64 and comparing with the same clips rendered at 64,
nearest gives 27.2 dB PSNR, bilinear 28.4, bicubic 28.6, Lanczos 28.6 (48 clips), and the world
analyzer reads all four attributes correctly after every filter.

Pipelines' float output is taken to be in [0, 1] (diffusers' convention for ``output_type="np"`` and
``"pt"``); :func:`clips_to_uint8` rounds to the nearest of 256 levels (truncation would darken every
clip by half a level on average).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from genkit.errors import ModelError

log = logging.getLogger(__name__)

TINY_NAME = "synthvid-tiny"
WORLD_NAME = "shapes-world"  # the shapes-world renderer as a "model": the prompt's ground truth, in milliseconds
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "fp32", "fp16", "bf16")
MAX_FRAMES = 2048
MAX_SIDE = 4096


@dataclass(frozen=True)
class Defaults:
    """A model's own settings, used for every option the user leaves out."""

    frames: int | None
    height: int | None
    width: int | None
    fps: float
    steps: int
    guidance: float


@dataclass(frozen=True)
class RegisteredModel:
    """A friendly name for a hub text-to-video pipeline and the settings its authors recommend."""

    hub_id: str
    pipeline: str  # the diffusers class its model_index.json names (informative)
    defaults: Defaults
    note: str = ""


# Frame counts follow each model's temporal compression (Wan 4k+1, CogVideoX and LTX 8k+1).
MODELS: dict[str, RegisteredModel] = {
    "wan2.1-1.3b": RegisteredModel(
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanPipeline", Defaults(81, 480, 832, 16, 50, 5.0), "~8 GB VRAM with --cpu-offload"
    ),
    "wan2.1-14b": RegisteredModel("Wan-AI/Wan2.1-T2V-14B-Diffusers", "WanPipeline", Defaults(81, 720, 1280, 16, 50, 5.0)),
    "cogvideox-2b": RegisteredModel("zai-org/CogVideoX-2b", "CogVideoXPipeline", Defaults(49, 480, 720, 8, 50, 6.0), "use --dtype fp16"),
    "cogvideox-5b": RegisteredModel("zai-org/CogVideoX-5b", "CogVideoXPipeline", Defaults(49, 480, 720, 8, 50, 6.0), "use --dtype bf16"),
    "ltx-video": RegisteredModel("Lightricks/LTX-Video", "LTXPipeline", Defaults(161, 512, 704, 25, 50, 3.0), "use --dtype bf16"),
    "zeroscope": RegisteredModel("cerspense/zeroscope_v2_576w", "TextToVideoSDPipeline", Defaults(24, 320, 576, 8, 40, 9.0)),
    "modelscope": RegisteredModel("ali-vilab/text-to-video-ms-1.7b", "TextToVideoSDPipeline", Defaults(16, 256, 256, 8, 25, 9.0)),
}


class Backend(Protocol):
    """What :mod:`genkit.generate` needs from a model."""

    name: str  # what the user asked for: synthvid-tiny, a friendly name, a hub id, a folder
    model_id: str  # recorded in the manifest and the run table: hub id, synthvid-tiny, local:<folder>
    revision: str | None  # hub commit, or the weights' digest; None when unknown
    weights_sha256: str | None  # SHA-256 of the weight files (weights_digest); None for a renderer
    defaults: Defaults
    batch_size: int  # clips per pipeline call by default

    def model_prompt(self, prompt: str) -> str:
        """The text the model receives for ``prompt``; a one-line error for a prompt it cannot take."""

    def generate(
        self,
        prompts: list[str],
        generators: list,
        *,
        frames: int | None,
        height: int | None,
        width: int | None,
        steps: int,
        guidance: float,
        negative_prompt: str | None = None,
    ) -> list:
        """One uint8 ``[T, H, W, 3]`` array per prompt; ``generators`` holds one ``torch.Generator`` each."""


# ------------------------------------------------------------------------------------- conversions


def clips_to_uint8(frames, count: int | None = None) -> list:
    """Whatever a pipeline returned as ``.frames`` → one uint8 ``[T, H, W, 3]`` array per clip.

    Accepts numpy or torch, float in [0, 1] (rounded, not truncated) or uint8, laid out
    ``[B, T, H, W, C]`` or ``[B, T, C, H, W]`` (diffusers' ``"pt"`` layout), a list of such clips, or
    lists of PIL images (``output_type="pil"``). Grey frames are repeated to RGB, alpha is dropped.
    """
    import numpy as np

    if hasattr(frames, "frames"):
        frames = frames.frames
    if isinstance(frames, (list, tuple)):
        clips = [_clip_to_uint8(clip) for clip in frames]
    else:
        array = _to_numpy(frames)
        if array.ndim == 4:  # a single clip
            array = array[None]
        if array.ndim != 5:
            raise ModelError(None, f"the pipeline returned frames of shape {list(array.shape)}; expected [batch, frames, H, W, C]")
        clips = [_clip_to_uint8(clip) for clip in array]
    if count is not None and len(clips) != count:
        raise ModelError(None, f"the pipeline returned {len(clips)} clips for {count} prompts")
    return [np.ascontiguousarray(clip) for clip in clips]


def _to_numpy(frames):
    import numpy as np

    if hasattr(frames, "detach"):  # a torch tensor
        frames = frames.detach().float().cpu().numpy()
    return np.asarray(frames)


def _clip_to_uint8(clip):
    import numpy as np

    if isinstance(clip, (list, tuple)):  # PIL images, or arrays, one per frame
        clip = np.stack([np.asarray(frame.convert("RGB")) if hasattr(frame, "convert") else _to_numpy(frame) for frame in clip])
    else:
        clip = _to_numpy(clip)
    if clip.ndim != 4:
        raise ModelError(None, f"a clip of shape {list(clip.shape)} is not [frames, H, W, C]")
    if clip.shape[-1] not in (1, 3, 4) and clip.shape[1] in (1, 3, 4):
        clip = clip.transpose(0, 2, 3, 1)  # [T, C, H, W] → [T, H, W, C]
    if clip.shape[-1] == 1:
        clip = np.repeat(clip, 3, axis=-1)
    clip = clip[..., :3]
    if clip.dtype == np.uint8:
        return clip
    return np.clip(np.rint(clip.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def resize_clips(frames, height: int, width: int):
    """Resize float frames ``[B, T, h, w, 3]`` (torch, [0, 1]) to ``height × width``: bicubic with the
    antialiased kernel (the one PIL uses), clamped to [0, 1]."""
    import torch.nn.functional as F

    b, t, h, w, c = frames.shape
    if (h, w) == (height, width):
        return frames
    flat = frames.reshape(b * t, h, w, c).permute(0, 3, 1, 2)
    resized = F.interpolate(flat, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return resized.clamp(0, 1).permute(0, 2, 3, 1).reshape(b, t, height, width, c)


# ------------------------------------------------------------------------------ devices and dtypes


def resolve_device(device: str) -> str:
    """``auto`` → cuda, else mps, else cpu; an explicit device that is not there is a one-line error."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    kind = device.split(":", 1)[0]
    if kind not in DEVICES[1:]:
        raise ModelError(None, f"--device {device!r}: use one of {', '.join(DEVICES)} (cuda:N for a given GPU)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelError(None, f"--device {device}: torch sees no CUDA GPU (torch {torch.__version__}); use --device cpu")
    if kind == "mps" and not has_mps:
        raise ModelError(None, f"--device {device}: Apple MPS is not available here; use --device cpu")
    return device


def resolve_dtype(dtype: str, device: str):
    """``auto`` → fp32 on CPU, bf16 on GPUs that support it, else fp16."""
    import torch

    if dtype not in DTYPES:
        raise ModelError(None, f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device.startswith("mps") else torch.float32
    if dtype == "fp16" and device == "cpu":
        log.warning("--dtype fp16 on the CPU is slow and some operations lack fp16 kernels; bf16 or fp32 work better")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# ----------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, found without loading anything (so prompts can be checked first)."""

    name: str  # as the user gave it
    backend: type  # TinyBackend or DiffusersBackend
    folder: Path | None = None  # a local pipeline folder
    hub_id: str | None = None
    defaults: Defaults | None = None  # a registered model's settings

    def model_prompt(self, prompt: str) -> str:
        return self.backend.model_prompt(prompt)


def resolve_model(model: str = TINY_NAME) -> ModelSource:
    """Which backend and which weights ``model`` means (see the module docstring); loads nothing."""
    if not model or not model.strip():
        raise ModelError(None, "--model is empty; give synthvid-tiny, a name from `synthvid generate --help`, a hub id or a folder")
    if model == TINY_NAME:
        from genkit.tiny import DEFAULT_MODEL_DIR

        return ModelSource(model, TinyBackend, folder=DEFAULT_MODEL_DIR)
    if model == WORLD_NAME:
        return ModelSource(model, WorldBackend)
    folder = Path(model).expanduser()
    if folder.exists():
        is_tiny = _model_index(folder).get("_class_name") == "SynthvidTinyPipeline"
        return ModelSource(model, TinyBackend if is_tiny else DiffusersBackend, folder=folder)
    registered = MODELS.get(model.lower())
    if registered is not None:
        return ModelSource(model, DiffusersBackend, hub_id=registered.hub_id, defaults=registered.defaults)
    if model.count("/") == 1 and not model.startswith((".", "/", "~")):
        return ModelSource(model, DiffusersBackend, hub_id=model)
    raise ModelError(model, f"no such folder, and not a known model name ({TINY_NAME}, {', '.join(MODELS)}) or a hub id (owner/name)")


def load_backend(
    model: str | ModelSource = TINY_NAME,
    *,
    device: str = "auto",
    dtype: str = "auto",
    cpu_offload: bool = False,
    revision: str | None = None,
) -> Backend:
    """Load the backend for ``model`` (a name, a hub id, a folder, or what :func:`resolve_model` found)."""
    source = model if isinstance(model, ModelSource) else resolve_model(model)
    resolved = resolve_device(device)
    if cpu_offload and not resolved.startswith("cuda"):
        raise ModelError(
            source.name, "--cpu-offload keeps the model in CPU memory and moves each part to the GPU when it runs; it needs --device cuda"
        )
    return source.backend.load(source, device=resolved, dtype=dtype, cpu_offload=cpu_offload, revision=revision)


def _model_index(folder: Path) -> dict:
    if not folder.is_dir():
        raise ModelError(folder, "is a file; give the folder of a saved pipeline (the one holding model_index.json)")
    index = folder / "model_index.json"
    if not index.is_file():
        raise ModelError(folder, "not a diffusers pipeline folder (no model_index.json); save one with pipe.save_pretrained(folder)")
    try:
        return json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(index, f"unreadable model index ({exc})") from None


def missing_weights_message(name: str, hub_id: str, revision: str | None, reason: str) -> str:
    """The one line that says what to download, how, where it goes and which flag points at it."""
    from huggingface_hub import constants

    offline = " (HF_HUB_OFFLINE=1: nothing is downloaded)" if constants.HF_HUB_OFFLINE else ""
    at = f" --revision {revision}" if revision else ""
    return (
        f"weights of {hub_id}{at} are not in the Hugging Face cache {constants.HF_HUB_CACHE}{offline} ({reason}); "
        f"on a machine with internet run `hf download {hub_id}{at}` and copy the cache here (HF_HOME or HF_HUB_CACHE "
        f"points at it), or `hf download {hub_id}{at} --local-dir DIR` and pass --model DIR"
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _quiet_diffusers() -> None:
    """diffusers and transformers log hub retries and deprecation notices as warnings; our one-line errors
    say what matters, so keep their noise for ``--debug``."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def _dtype_kwargs(torch_dtype) -> dict:
    """diffusers 0.42 renamed ``torch_dtype`` to ``dtype`` (the old name warns); older ones know only the old."""
    from diffusers.utils import deprecation_utils

    renamed = hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
    return {"dtype" if renamed else "torch_dtype": torch_dtype}


def weights_digest(folder: Path) -> str:
    """SHA-256 over a pipeline folder's weight files (names and bytes): what identifies the weights
    whatever their folder or hub revision is called (its first 12 digits are the revision of a model
    that has no hub commit). Hashing reads each file once, like loading it: ~1 s per 2 GB here."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.bin")):
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


class TinyBackend:
    """synthvid-tiny: samples at its native 32×32 and resizes to the requested size (bicubic)."""

    batch_size = 8

    def __init__(self, pipe, *, name: str, model_id: str, revision: str | None, device: str, weights_sha256: str | None = None):
        from genkit.tiny.pipeline import DEFAULT_FRAMES, DEFAULT_GUIDANCE, DEFAULT_SIZE, DEFAULT_STEPS

        self.pipe = pipe
        self.name = name
        self.model_id = model_id
        self.revision = revision
        self.weights_sha256 = weights_sha256
        self.device = device
        self.native_size = DEFAULT_SIZE
        # 64×64 by default: room for the watermark (it refuses small frames), and an exact 2× upscale of 32.
        self.defaults = Defaults(DEFAULT_FRAMES, 2 * DEFAULT_SIZE, 2 * DEFAULT_SIZE, 8.0, DEFAULT_STEPS, DEFAULT_GUIDANCE)

    @classmethod
    def load(cls, source: ModelSource, *, device: str, dtype: str, cpu_offload: bool = False, revision: str | None = None) -> TinyBackend:
        folder, name = Path(source.folder), source.name
        if cpu_offload:
            log.info("--cpu-offload is ignored for %s (a few MB)", TINY_NAME)
        cls.check_folder(folder)
        _quiet_diffusers()
        from genkit.tiny.pipeline import SynthvidTinyPipeline

        torch_dtype = resolve_dtype("fp32" if dtype == "auto" else dtype, device)  # small model: fp32 is fast enough anywhere
        try:
            pipe = SynthvidTinyPipeline.from_pretrained(folder, **_dtype_kwargs(torch_dtype))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(folder, f"cannot load {TINY_NAME} ({_first_line(exc)})") from exc
        pipe.set_progress_bar_config(disable=True)
        pipe.to(device)
        model_id = TINY_NAME if name == TINY_NAME else f"{TINY_NAME}:{folder.resolve().name}"
        weights = weights_digest(folder)
        return cls(pipe, name=name, model_id=model_id, revision=weights[:12], device=device, weights_sha256=weights)

    @staticmethod
    def check_folder(folder: Path) -> None:
        if not (Path(folder) / "model_index.json").is_file():
            raise ModelError(
                folder,
                f"{TINY_NAME} weights are missing (no model_index.json); they ship with synthvid "
                f"(reinstall it), or train them with `synthvid train tiny --minutes 60 --out runs/train-tiny` "
                f"and pass --model runs/train-tiny/pipeline",
            )

    @staticmethod
    def model_prompt(prompt: str) -> str:
        """The canonical shapes-world wording of ``prompt`` (what the model was trained on)."""
        return world_prompt(prompt, TINY_NAME)

    def generate(self, prompts, generators, *, frames, height, width, steps, guidance, negative_prompt=None):
        import torch

        size = self.native_size
        with torch.inference_mode():
            out = self.pipe(
                prompts,
                num_frames=frames or self.defaults.frames,
                height=size,
                width=size,
                num_inference_steps=steps,
                guidance_scale=guidance,
                negative_prompt=None if negative_prompt is None else [negative_prompt] * len(prompts),
                generator=generators,
                output_type="pt",
            ).frames
        out = resize_clips(out.float(), height or self.defaults.height, width or self.defaults.width)
        return clips_to_uint8(out, len(prompts))


def world_prompt(prompt: str, model_name: str) -> str:
    """The canonical shapes-world wording of ``prompt``, or a one-line error saying ``model_name`` takes no other."""
    from genkit.world import PromptError, parse_prompt

    try:
        return parse_prompt(prompt).text
    except PromptError as exc:
        raise PromptError(
            prompt,
            f"{model_name} knows only the shapes-world grammar ({exc.reason}); for other prompts pass --model with a diffusers pipeline",
        ) from None


class WorldBackend:
    """The shapes-world renderer behind the backend interface: each clip is what its prompt describes,
    rendered with the seed of its generator. A real, cheap "model" for benchmarks of the pipeline itself
    and an upper bound for prompt adherence in a leaderboard (steps and guidance are ignored)."""

    batch_size = 8

    def __init__(self, *, name: str = WORLD_NAME):
        from importlib.metadata import PackageNotFoundError, version

        self.name = name
        self.model_id = WORLD_NAME
        try:
            self.revision = f"synthvid-{version('synthvid')}"
        except PackageNotFoundError:
            self.revision = None
        self.weights_sha256 = None  # a renderer: its code (the synthvid version in `software`) is what makes the clip
        self.device = "cpu"
        self.defaults = Defaults(16, 64, 64, 8.0, 1, 0.0)

    @classmethod
    def load(cls, source: ModelSource, *, device: str, dtype: str, cpu_offload: bool = False, revision: str | None = None) -> WorldBackend:
        return cls(name=source.name)

    @staticmethod
    def model_prompt(prompt: str) -> str:
        return world_prompt(prompt, WORLD_NAME)

    def generate(self, prompts, generators, *, frames, height, width, steps, guidance, negative_prompt=None):
        from genkit.world import render

        size = (height or self.defaults.height, width or self.defaults.width)
        return [
            render(prompt, frames=frames or self.defaults.frames, size=size, fps=self.defaults.fps, seed=generator.initial_seed()).frames
            for prompt, generator in zip(prompts, generators)
        ]


class DiffusersBackend:
    """Any diffusers text-to-video pipeline; keyword arguments are passed only when its ``__call__`` takes them."""

    batch_size = 1

    def __init__(self, pipe, *, name: str, model_id: str, revision: str | None, defaults: Defaults, device: str, weights_sha256: str | None = None):
        self.pipe = pipe
        self.name = name
        self.model_id = model_id
        self.revision = revision
        self.weights_sha256 = weights_sha256
        self.defaults = defaults
        self.device = device
        self._call_params = set(inspect.signature(pipe.__call__).parameters)

    @classmethod
    def load(cls, source: ModelSource, *, device: str, dtype: str, cpu_offload: bool = False, revision: str | None = None) -> DiffusersBackend:
        _quiet_diffusers()
        from diffusers import DiffusionPipeline

        name, folder, hub_id = source.name, source.folder, source.hub_id
        if folder is None:
            try:
                folder = Path(DiffusionPipeline.download(hub_id, revision=revision))
            except (OSError, ValueError) as exc:  # offline and not cached, no network, gated, no such repo
                raise ModelError(name, missing_weights_message(name, hub_id, revision, _first_line(exc))) from None
            model_id, commit = hub_id, folder.name  # the cache's snapshot folder is named by the commit
        else:
            _model_index(folder)
            model_id, commit = f"local:{folder.resolve().name}", None  # the weights' hash identifies them (below)
            if revision:
                log.warning("--revision %s is ignored for the local folder %s", revision, folder)
        torch_dtype = resolve_dtype(dtype, device)
        try:
            pipe = DiffusionPipeline.from_pretrained(folder, **_dtype_kwargs(torch_dtype))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError, RuntimeError) as exc:
            raise ModelError(folder, f"cannot load the pipeline ({_first_line(exc)})") from exc
        if not callable(pipe) or "prompt" not in inspect.signature(pipe.__call__).parameters:
            raise ModelError(folder, f"{type(pipe).__name__} takes no text prompt; give a text-to-video pipeline")
        pipe.set_progress_bar_config(disable=True)
        if cpu_offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        log.info("loaded %s (%s, %s) on %s", model_id, type(pipe).__name__, _dtype_name(torch_dtype), device)
        defaults = source.defaults or _signature_defaults(pipe)
        return cls(pipe, name=name, model_id=model_id, revision=commit, defaults=defaults, device=device, weights_sha256=weights_digest(folder))

    @staticmethod
    def model_prompt(prompt: str) -> str:
        return prompt

    def generate(self, prompts, generators, *, frames, height, width, steps, guidance, negative_prompt=None):
        import torch

        wanted = {
            "prompt": list(prompts),
            "num_frames": frames,
            "height": height,
            "width": width,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": list(generators),
            "output_type": "np",
            "negative_prompt": None if negative_prompt is None else [negative_prompt] * len(prompts),
        }
        kwargs = {key: value for key, value in wanted.items() if key in self._call_params and value is not None}
        try:
            with torch.inference_mode():
                out = self.pipe(**kwargs)
        except ValueError as exc:  # the pipeline's own input checks: sizes, frame counts, prompt lengths
            raise ModelError(self.name, f"{type(self.pipe).__name__} refused the settings ({_first_line(exc)})") from exc
        return clips_to_uint8(out, len(prompts))


def _signature_defaults(pipe) -> Defaults:
    """Settings of an unregistered pipeline: the defaults of its ``__call__`` (None lets it choose)."""
    params = inspect.signature(pipe.__call__).parameters

    def default(name, fallback):
        value = params[name].default if name in params else None
        return value if isinstance(value, (int, float)) else fallback

    return Defaults(
        frames=default("num_frames", None),
        height=default("height", None),
        width=default("width", None),
        fps=float(default("frame_rate", 8)),
        steps=int(default("num_inference_steps", 50)),
        guidance=float(default("guidance_scale", 5.0)),
    )


__all__ = [
    "Backend",
    "Defaults",
    "DiffusersBackend",
    "MODELS",
    "ModelSource",
    "RegisteredModel",
    "TinyBackend",
    "WorldBackend",
    "clips_to_uint8",
    "load_backend",
    "missing_weights_message",
    "resize_clips",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
]
