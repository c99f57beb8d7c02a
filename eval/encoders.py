"""Image (frame) and text encoders of the per-frame metrics: any open_clip model, or a timm backbone.

:class:`ClipEncoder` wraps an open_clip model, its tokenizer and its preprocessing config. It loads
(see :func:`load_clip`):

- ``synthvid-tiny-clip``: the shipped model, trained here on shapes-world frames and captions (an
  open_clip custom model config in ``eval/models/synthvid-tiny-clip``, opened with open_clip's
  ``local-dir:`` schema; ``synthvid eval-train clip`` remakes it);
- ``local-dir:FOLDER``: any folder with ``open_clip_config.json`` and ``open_clip_model.safetensors``;
- an open_clip model name (``ViT-B-32``, ``ViT-L-14-quickgelu``, ...) or a ``.json`` custom model
  config, with ``pretrained=`` a local checkpoint file: a state dict (``.safetensors``, ``.bin``,
  ``.pt``) or OpenAI's own TorchScript archive (``ViT-B-32.pt``; :func:`load_openai_archive`). OpenAI's weights need the QuickGELU variant
  (``-quickgelu`` names, or ``quick_gelu=True``). Nothing is downloaded: ``HF_HUB_OFFLINE=1`` is set
  before open_clip is imported, and a missing file is an error that says which file to get.

:class:`TimmImageEncoder` is a timm backbone from a local checkpoint (VBench's subject consistency
uses DINO ViT-B/16: ``timm:vit_base_patch16_224.dino`` with its weights file).

Frames are preprocessed as tensors under one of two protocols (:data:`ENCODER_PROTOCOLS`, the
encoder's ``protocol`` attribute):

- ``synthvid`` (default): open_clip's eval transform (resize the shorter side to the input size, centre
  crop, normalise with the model's mean/std; bicubic or bilinear as its config says), done with torch's
  antialiased resize instead of PIL's, so values differ from PIL by interpolation rounding;
- ``vbench``: VBench 0.1.5's own tensor transforms (``vbench/utils.py``): the shorter side resized to
  224 (the longer to ``int(224·long/short)``) without antialias on frames in [0, 255], no clamping; CLIP
  (``clip_transform``): bicubic, centre crop (torchvision's rounding), CLIP mean/std; a timm ViT as
  DINO (``dino_transform``): bilinear, *no crop*, ImageNet mean/std, and the non-square image goes
  through DINO's own position-embedding interpolation (:func:`dino_position_embedding`).

Encoders return L2-normalised float32 embeddings.
"""

from __future__ import annotations

import abc
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eval.errors import EvalError, ModelFileError, check_state_dict
from eval.frames import video_batch

log = logging.getLogger(__name__)

TINY_CLIP = "synthvid-tiny-clip"
TINY_CLIP_DIR = Path(__file__).resolve().parent / "models" / TINY_CLIP
TINY_CLIP_TRAIN = "synthvid eval-train clip --minutes 15 --out runs/train-tiny-clip"

ENCODER_PROTOCOLS = ("synthvid", "vbench")
VBENCH_SIZE = 224  # VBench's clip_transform(224) and dino_transform(224)
PREPROCESS_BYTES = 256 * 2**20  # full-size float frames of one encoder batch: 24 frames of 720p, 64 of 480p
VBENCH_CLIP_MEAN, VBENCH_CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
VBENCH_DINO_MEAN, VBENCH_DINO_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def frames_tensor(frames) -> torch.Tensor:
    """Frames as uint8 ``[N, H, W, 3]``: a clip ``[T, H, W, 3]`` or a batch of clips, flattened."""
    batch = video_batch(frames)
    return batch.reshape(-1, *batch.shape[2:])


class ImageEncoder(nn.Module, abc.ABC):
    """Maps uint8 frames ``[N, H, W, 3]`` to L2-normalised embeddings ``[N, D]``.

    Subclasses set the preprocessing (``size``, ``interpolation``, ``resize_mode``, ``mean``/``std``) and
    implement :meth:`embed_images`. (nn.Module's metaclass is ``type``, so ABCMeta combines with it.)
    """

    name = "encoder"
    batch_size = 64
    size: tuple[int, int] = (224, 224)
    interpolation = "bicubic"
    resize_mode = "shortest"
    protocol = "synthvid"  # or "vbench": see the module docstring and set_protocol
    vbench_transform = "clip"  # which VBench transform the vbench protocol applies: "clip" or "dino"

    def set_protocol(self, protocol: str) -> ImageEncoder:
        """Preprocess (and, for DINO, embed) frames as ``protocol`` says: ``synthvid`` or ``vbench``."""
        if protocol not in ENCODER_PROTOCOLS:
            raise EvalError(None, f"unknown encoder protocol {protocol!r}: choose from {', '.join(ENCODER_PROTOCOLS)}")
        self.protocol = protocol
        return self

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, H, W, 3]`` → float ``[N, 3, h, w]``: resize (shorter side, or both sides when
        ``resize_mode`` is ``squash``), centre crop, [0, 1], normalise with ``mean``/``std``; under the
        ``vbench`` protocol, :meth:`preprocess_vbench`."""
        if self.protocol == "vbench":
            return self.preprocess_vbench(frames)
        x = frames.permute(0, 3, 1, 2).float().div_(255.0)
        h, w = x.shape[-2:]
        th, tw = self.size
        if self.resize_mode == "squash":
            target = (th, tw)
        else:
            scale = max(th / h, tw / w)
            target = (max(th, round(h * scale)), max(tw, round(w * scale)))
        if target != (h, w):
            x = F.interpolate(x, size=target, mode=self.interpolation, align_corners=False, antialias=True).clamp_(0, 1)
        top, left = (x.shape[-2] - th) // 2, (x.shape[-1] - tw) // 2
        x = x[..., top : top + th, left : left + tw]
        return (x - self.mean) / self.std

    def preprocess_vbench(self, frames: torch.Tensor) -> torch.Tensor:
        """VBench 0.1.5's transforms on uint8 ``[N, H, W, 3]``, step for step as torchvision runs them on
        the float [0, 255] tensors ``vbench.utils.load_video`` returns: ``Resize(224, antialias=False)``
        (shorter side 224, longer ``int(224·long/short)``, skipped when already so; float input, so no
        clamp or rounding), for CLIP ``CenterCrop(224)`` (offsets ``int(round(margin / 2))``), then
        ÷255 and ``Normalize`` with the transform's constants."""
        x = frames.permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        n = VBENCH_SIZE
        target = (n, int(n * w / h)) if h <= w else (int(n * h / w), n)
        dino = self.vbench_transform == "dino"
        if target != (h, w):
            x = F.interpolate(x, size=target, mode="bilinear" if dino else "bicubic", align_corners=False, antialias=False)
        if not dino:
            top, left = int(round((x.shape[-2] - n) / 2.0)), int(round((x.shape[-1] - n) / 2.0))
            x = x[..., top : top + n, left : left + n]
        x = x.div(255.0)
        mean, std = (VBENCH_DINO_MEAN, VBENCH_DINO_STD) if dino else (VBENCH_CLIP_MEAN, VBENCH_CLIP_STD)
        mean = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @abc.abstractmethod
    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[N, D]`` (not normalised) of preprocessed pixels ``[N, 3, h, w]``."""

    def embedding_width(self) -> int:
        """D, the width of the embeddings (the model's ``output_dim`` where it says, else from one black frame)."""
        width = getattr(getattr(getattr(self, "model", None), "visual", None), "output_dim", None)
        if isinstance(width, int):
            return width
        return int(self.encode_frames(torch.zeros(1, *self.size, 3, dtype=torch.uint8)).shape[-1])

    def encode_frames(self, frames) -> torch.Tensor:
        """L2-normalised embeddings of frames (a clip, a batch of clips, or ``[N, H, W, 3]``), ``batch_size``
        frames a forward at most, fewer when large frames' float copies would pass :data:`PREPROCESS_BYTES`."""
        flat = frames_tensor(frames).to(self.mean.device)
        per_frame = 4 * 3 * flat.shape[1] * flat.shape[2]  # the float32 copy preprocessing makes before resizing
        batch = max(1, min(self.batch_size, PREPROCESS_BYTES // per_frame))
        out = []
        with torch.inference_mode():
            for start in range(0, flat.shape[0], batch):
                out.append(self.embed_images(self.preprocess(flat[start : start + batch])).float())
        return F.normalize(torch.cat(out), dim=-1)

    def _set_normalisation(self, mean, std) -> None:
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)


class ClipEncoder(ImageEncoder):
    """An open_clip model with its tokenizer: frames and prompts into one embedding space."""

    def __init__(self, model: nn.Module, tokenizer, name: str):
        super().__init__()
        from open_clip import get_model_preprocess_cfg

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        cfg = get_model_preprocess_cfg(model)
        size = cfg.get("size", 224)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        self.resize_mode = cfg.get("resize_mode", "shortest")
        if self.resize_mode not in ("shortest", "squash"):
            log.info("%s: resize_mode %r is done as 'shortest' (resize the shorter side, centre crop)", name, self.resize_mode)
        self._set_normalisation(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self.mean.device)

    def encode_text(self, texts: str | list[str]) -> torch.Tensor:
        """L2-normalised embeddings ``[N, D]`` of prompts."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise EvalError(None, "prompts must be a non-empty list of strings")
        with torch.inference_mode():
            return F.normalize(self.model.encode_text(self.tokenize(texts)).float(), dim=-1)


def _import_open_clip():
    # A hub lookup that cannot succeed retries for ~47 s before failing: say offline before importing.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import open_clip

    return open_clip


def load_clip(
    model: str = TINY_CLIP, pretrained: str | Path | None = None, *, quick_gelu: bool = False, device: str | torch.device = "cpu"
) -> ClipEncoder:
    """A :class:`ClipEncoder` (see the module docstring for what ``model`` may be).

    ``pretrained`` must be a local checkpoint file (``.safetensors``, ``.bin``, ``.pt``) or ``None``
    (random weights: only for tests; a warning says so). Schema models (``local-dir:``) bring their
    own weights.
    """
    open_clip = _import_open_clip()
    spec = str(model)
    if spec == TINY_CLIP:
        if not (TINY_CLIP_DIR / "open_clip_config.json").is_file():
            raise ModelFileError(TINY_CLIP_DIR / "open_clip_config.json", f"missing; {TINY_CLIP} is made by `{TINY_CLIP_TRAIN}`")
        spec = f"local-dir:{TINY_CLIP_DIR}"
    if spec.startswith("local-dir:"):
        folder = Path(spec.removeprefix("local-dir:"))
        for needed in ("open_clip_config.json",):
            if not (folder / needed).is_file():
                raise ModelFileError(folder / needed, "missing; a local-dir: open_clip model folder holds open_clip_config.json and its weights")
        if pretrained is not None:
            log.warning("%s: pretrained=%s is ignored, the folder brings its own weights", spec, pretrained)
        pretrained = None
    elif spec.endswith(".json"):
        config = Path(spec)
        if not config.is_file():
            raise ModelFileError(config, "no such open_clip model config")
        open_clip.add_model_config(config)
        spec = config.stem
    if spec.startswith("hf-hub:"):
        raise EvalError(
            None,
            f"{spec}: synthvid loads CLIP weights only from local files; download the checkpoint and pass "
            "--clip-model MODEL_NAME --clip-pretrained FILE (or a local-dir: folder)",
        )
    if not spec.startswith("local-dir:") and spec not in open_clip.list_models():
        raise EvalError(None, f"unknown open_clip model {spec!r}; see open_clip.list_models(), or give a .json model config or local-dir:FOLDER")
    if pretrained is not None:
        pretrained = Path(pretrained)
        if not pretrained.is_file():
            raise ModelFileError(
                pretrained, f"no such checkpoint for {spec} (synthvid never downloads weights; OpenAI weights need a -quickgelu model name)"
            )
    elif not spec.startswith("local-dir:"):
        log.warning("%s with random weights (no --clip-pretrained): its scores mean nothing", spec)
    from eval.checkpoints import is_torchscript

    archive = pretrained is not None and is_torchscript(pretrained)  # OpenAI's own files (ViT-B-32.pt, ...)
    quiet = _DropRecords("No pretrained weights loaded") if archive else None  # they are loaded just below
    try:
        if quiet:
            logging.getLogger().addFilter(quiet)
        clip_model = open_clip.create_model(
            spec, pretrained=str(pretrained) if pretrained and not archive else None, device=device, force_quick_gelu=quick_gelu
        )
        tokenizer = open_clip.get_tokenizer(spec)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        where = pretrained or spec.removeprefix("local-dir:")
        raise ModelFileError(where, f"cannot load {spec} ({' '.join(str(exc).split())[:240]})") from exc
    finally:
        if quiet:
            logging.getLogger().removeFilter(quiet)
    if archive:
        if not (quick_gelu or spec.endswith("-quickgelu") or (open_clip.get_model_config(spec) or {}).get("quick_gelu")):
            log.warning("%s: OpenAI's checkpoints were trained with QuickGELU; use a -quickgelu model name or quick_gelu=True", pretrained)
        load_openai_archive(clip_model, pretrained, spec)
    return ClipEncoder(clip_model, tokenizer, model if isinstance(model, str) else str(model)).to(device)


class _DropRecords(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def load_openai_archive(clip_model: nn.Module, path: Path, spec: str) -> None:
    """Load an OpenAI TorchScript CLIP archive's weights into an open_clip model built from ``spec``.

    open_clip reads checkpoints with ``torch.load(weights_only=True)``, which refuses TorchScript; its
    ``load_openai_model`` accepts the archive but builds the model from the weights alone (losing a
    chosen config's preprocessing). Here the archive's state dict (float16 where OpenAI stored it) goes
    through the conversions of open_clip's ``load_checkpoint`` that apply to OpenAI keys, then is loaded
    strictly: a file for another model is a one-line :class:`ModelFileError` naming it.
    """
    from open_clip.model import convert_to_custom_text_state_dict

    from eval.checkpoints import torchscript_state_dict

    state = torchscript_state_dict(path)
    if "positional_embedding" in state and not hasattr(clip_model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)  # a CustomTextCLIP keeps the text tower under text.
    scale = state.get("logit_scale")
    if scale is not None and scale.ndim != clip_model.logit_scale.ndim:
        state["logit_scale"] = scale.reshape(clip_model.logit_scale.shape)
    if getattr(clip_model, "logit_bias", None) is not None and "logit_bias" not in state:
        state["logit_bias"] = torch.zeros_like(clip_model.logit_bias)
    check_state_dict(path, f"open_clip {spec}", state, clip_model.state_dict())
    clip_model.load_state_dict(state)


class TimmImageEncoder(ImageEncoder):
    """A timm backbone's pooled features (``num_classes=0``) from a local checkpoint, e.g. DINO ViT-B/16
    (``vit_base_patch16_224.dino``), the encoder of VBench's subject consistency."""

    def __init__(self, model_name: str, checkpoint: str | Path | None, **timm_kwargs):
        super().__init__()
        import timm

        try:
            self.model = timm.create_model(model_name, pretrained=False, num_classes=0, **timm_kwargs).eval()
        except (RuntimeError, ValueError) as exc:
            raise EvalError(None, f"unknown timm model {model_name!r} ({exc})") from exc
        if checkpoint is not None:
            self._load(Path(checkpoint))
        else:
            log.warning("timm %s with random weights: its scores mean nothing", model_name)
        self.name = f"timm:{model_name}"
        cfg = self.model.pretrained_cfg or {}
        size = cfg.get("input_size", (3, 224, 224))[-2:]
        self.size = (
            tuple(timm_kwargs["img_size"])
            if isinstance(timm_kwargs.get("img_size"), (tuple, list))
            else ((timm_kwargs["img_size"],) * 2 if "img_size" in timm_kwargs else tuple(size))
        )
        self.interpolation = "bicubic" if cfg.get("interpolation", "bicubic") == "bicubic" else "bilinear"
        self._set_normalisation(cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225)))
        self.vbench_transform = "dino"

    def set_protocol(self, protocol: str) -> TimmImageEncoder:
        if protocol == "vbench":
            _check_dino_like(self.model, self.name)
        return super().set_protocol(protocol)

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise ModelFileError(path, "no such checkpoint")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip and safetensors errors alike
            raise ModelFileError(path, f"not a readable checkpoint ({' '.join(str(exc).split())[:200]})") from exc
        state = state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else state
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("head")]
        if missing:
            raise ModelFileError(path, f"does not fit the timm model: missing {missing[:3]}")
        if unexpected:
            log.info("%s: ignoring %d keys the backbone does not use (e.g. %s)", path, len(unexpected), unexpected[0])

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.protocol == "vbench":
            return dino_forward(self.model, pixels)
        return self.model(pixels)


def _check_dino_like(model: nn.Module, name: str) -> None:
    from timm.models.vision_transformer import VisionTransformer

    if not (
        isinstance(model, VisionTransformer)
        and model.cls_token is not None
        and not model.no_embed_class
        and not getattr(model, "num_reg_tokens", 0)
        and model.pos_embed is not None
        and model.global_pool == "token"
    ):
        raise EvalError(
            None,
            f"{name}: the vbench protocol runs subject consistency's encoder as DINO's ViT (class token, "
            "absolute position embedding), e.g. timm:vit_base_patch16_224.dino:dino_vitbase16_pretrain.pth",
        )


def dino_position_embedding(pos_embed: torch.Tensor, height: int, width: int, patch: int) -> torch.Tensor:
    """Position embeddings for a ``height``×``width`` image as DINO's ``interpolate_pos_encoding`` makes them
    (facebookresearch/dino ``vision_transformer.py``, which VBench loads through torch.hub): unchanged for a
    square image with the trained patch count; else the patch grid interpolated bicubic (no antialias,
    ``align_corners=False``) with ``scale_factor = ((H//p + 0.1)/√N, (W//p + 0.1)/√N)``, a scale and not a
    size, so source positions differ from timm's size-based (antialiased) resampling."""
    import math

    count = pos_embed.shape[1] - 1
    rows, cols = height // patch, width // patch
    if rows * cols == count and height == width:
        return pos_embed
    side = math.sqrt(count)
    grid = pos_embed[:, 1:].reshape(1, int(side), int(side), -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((rows + 0.1) / side, (cols + 0.1) / side), mode="bicubic")
    if grid.shape[-2:] != (rows, cols):
        raise EvalError(None, f"DINO position interpolation gave {tuple(grid.shape[-2:])} patches for {(rows, cols)}")
    return torch.cat((pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)), dim=1)


def dino_forward(model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """DINO's ``VisionTransformer.forward`` on a timm ViT with DINO's weights: patch embedding of any image
    size (the remainder past a whole patch dropped, as the strided convolution does), class token,
    :func:`dino_position_embedding`, the blocks, the final norm, the class token's features."""
    batch, _, height, width = pixels.shape
    patch = model.patch_embed.proj.kernel_size[0]
    x = model.patch_embed.proj(pixels).flatten(2).transpose(1, 2)
    x = model.patch_embed.norm(x)
    x = torch.cat((model.cls_token.expand(batch, -1, -1), x), dim=1)
    x = x + dino_position_embedding(model.pos_embed, height, width, patch)
    x = model.norm_pre(model.pos_drop(x))
    for block in model.blocks:
        x = block(x)
    return model.norm(x)[:, 0]


def load_image_encoder(spec: str | ImageEncoder | None, *, clip: ClipEncoder | None = None) -> ImageEncoder:
    """``None``/``clip`` (the CLIP encoder in use), ``timm:NAME:CHECKPOINT``, or an encoder instance."""
    if isinstance(spec, ImageEncoder):
        return spec
    if spec in (None, "clip"):
        return clip if clip is not None else load_clip()
    kind, _, rest = str(spec).partition(":")
    if kind == "timm" and rest:
        name, _, checkpoint = rest.partition(":")
        return TimmImageEncoder(name, checkpoint or None)
    raise EvalError(None, f"unknown image encoder {spec!r}: use clip or timm:MODEL_NAME:CHECKPOINT")


class _TorchmetricsClipModel(nn.Module):
    """``get_image_features``/``get_text_features`` over a :class:`ClipEncoder`, the interface
    torchmetrics' CLIPScore expects from a transformers CLIPModel."""

    def __init__(self, encoder: ClipEncoder):
        super().__init__()
        self.encoder = encoder
        self.config = type("Config", (), {})()  # no text_config: torchmetrics then skips its length check

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder.model.encode_image(pixel_values)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder.model.encode_text(input_ids)


class _TorchmetricsClipProcessor:
    """``processor(images=[CHW uint8], text=[str], return_tensors="pt", padding=True)``, with our preprocessing."""

    def __init__(self, encoder: ClipEncoder):
        self.encoder = encoder

    def __call__(self, images=None, text=None, return_tensors="pt", padding=True):
        if images is not None:
            frames = torch.stack([image.permute(1, 2, 0) for image in images]).to(torch.uint8)
            return {"pixel_values": self.encoder.preprocess(frames)}
        ids = self.encoder.tokenize(list(text))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def torchmetrics_clip(encoder: ClipEncoder):
    """The ``(model, processor)`` callable torchmetrics' ``CLIPScore(model_name_or_path=...)`` accepts,
    so CLIPScore can run any open_clip model synthvid loads."""
    return lambda: (_TorchmetricsClipModel(encoder), _TorchmetricsClipProcessor(encoder))
