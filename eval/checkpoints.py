"""Checkpoint formats shared by eval's model loaders: TorchScript archives (OpenAI's CLIP ``ViT-B-32.pt``,
StyleGAN-V's ``i3d_torchscript.pt``) next to plain ``torch.save`` state dicts."""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from eval.errors import ModelFileError, first_line

# Scalars OpenAI's CLIP archives keep beside the weights (open_clip drops them too).
OPENAI_ARCHIVE_EXTRAS = ("input_resolution", "context_length", "vocab_size")


def is_torchscript(path: str | Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder (and ``constants.pkl``); torch.save
    state dicts are zip files without them."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.startswith("code/") for name in archive.namelist())


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    """A TorchScript archive on the CPU, or :class:`ModelFileError` naming the file."""
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError) as exc:
        raise ModelFileError(path, f"not a loadable TorchScript archive ({first_line(exc)})") from exc


def torchscript_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of a TorchScript archive as a state dict, without OpenAI's scalar extras."""
    state = dict(load_torchscript(path).state_dict())
    for key in OPENAI_ARCHIVE_EXTRAS:
        state.pop(key, None)
    return state
