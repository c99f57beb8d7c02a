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


def load_state_dict_file(path: str | Path, what: str, where: str, *, wrappers: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save`` state dict (or ``.safetensors``) at ``path``: ``what`` names the
    network in errors, ``where`` says where its file comes from; a dict under one of ``wrappers``
    (``params``, ``state_dict``) is unwrapped and DataParallel's ``module.`` prefix dropped.
    :class:`ModelFileError` naming the file when it is missing or not such a state dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, f"no such {what} checkpoint: {where}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load and safetensors raise many types for a file that is not theirs
        raise ModelFileError(path, f"not a {what} checkpoint ({first_line(exc)})") from exc
    for wrapper in wrappers:
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(path, f"not a {what} checkpoint (a state dict of tensors is expected: {where})")
    return {str(k).removeprefix("module."): v for k, v in state.items()}
