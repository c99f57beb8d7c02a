"""The check every input file of provenance passes before it is opened: a clip, a key, a certificate.

:func:`check_input_file` refuses, with the true reason in one line, what is not a regular file whose
size can be trusted: a missing file, a broken symbolic link or a loop of them, a directory, a
character or block device (``/dev/zero``), a FIFO, a socket, a kernel pseudo-file that reports
0 bytes whatever it holds (``/proc/self/status``), an unreadable or an empty file. It only calls
``stat`` (and reads the mount table for a 0-byte file): the file itself is never opened, so a FIFO
with no writer cannot make it wait forever.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provenance.errors import MediaError

# File types other than regular files and directories, as `stat` tells them.
_SPECIAL_FILES = (
    (stat.S_ISCHR, "not a regular file (character device)"),
    (stat.S_ISBLK, "not a regular file (block device)"),
    (stat.S_ISFIFO, "a FIFO/named pipe, not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
)
# Kernel filesystems whose files report sizes unrelated to what they hold (0 bytes for every file of
# /proc): a 0-byte file there is not known to be empty (mountinfo type: name).
PSEUDO_FILESYSTEMS = {
    "proc": "procfs",
    "sysfs": "sysfs",
    "debugfs": "debugfs",
    "tracefs": "tracefs",
    "securityfs": "securityfs",
    "cgroup": "cgroupfs",
    "cgroup2": "cgroupfs",
    "configfs": "configfs",
    "efivarfs": "efivarfs",
    "bpf": "bpffs",
}
MOUNTINFO = Path("/proc/self/mountinfo")


def filesystem_type(device: int) -> str | None:
    """The type (``ext4``, ``proc``, ...) of the mounted filesystem whose ``st_dev`` is ``device``, from
    ``/proc/self/mountinfo``; ``None`` where there is no such table (not Linux) or no such mount."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = MOUNTINFO.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "<id> <parent> <major:minor> <root> <mount point> <options> [optional...] - <type> <source> ..."
        if len(fields) > 2 and fields[2] == wanted and "-" in fields:
            after = fields[fields.index("-") + 1 :]
            return after[0] if after else None
    return None


def _stat_failure(path: Path, exc: OSError) -> str | None:
    """The reason ``stat`` failed; ``None`` for a plain missing file (the caller says it its way)."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            return f"broken symbolic link (its target {os.readlink(path)} does not exist)"
        return None
    if exc.errno == errno.ENOTDIR:
        return "no such file (a folder on its path is not a directory)"
    if exc.errno == errno.EACCES:
        return "permission denied (a folder on its path cannot be searched)"
    return f"cannot read ({exc.strerror or exc})"


def check_input_file(
    path: str | Path,
    *,
    what: str = "video file",
    missing: str | None = "no such file",
    empty_ok: bool = False,
    error: type = MediaError,
) -> os.stat_result | None:
    """Raise ``error(path, reason)`` unless ``path`` is a readable, non-empty regular file; return its stat.

    ``what`` names the kind of file in "is a directory, not a <what>"; ``missing`` is the reason
    given for a file that does not exist, or ``None`` where that is fine (then ``None`` is returned);
    ``empty_ok`` accepts a 0-byte file (an SQLite database before its first write).
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        reason = _stat_failure(path, exc)
        if reason is None and missing is None:
            return None
        raise error(path, reason or missing) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(path, f"is a directory, not a {what}")
    for is_kind, reason in _SPECIAL_FILES:
        if is_kind(info.st_mode):
            raise error(path, reason)
    if not stat.S_ISREG(info.st_mode):
        raise error(path, f"not a regular file (file type {stat.S_IFMT(info.st_mode):o})")
    if not os.access(path, os.R_OK):
        raise error(path, "permission denied")
    if info.st_size == 0:
        kind = filesystem_type(info.st_dev)
        if kind in PSEUDO_FILESYSTEMS:
            raise error(path, f"not a regular file with a known size ({PSEUDO_FILESYSTEMS[kind]} reports 0 bytes for it)")
        if not empty_ok:
            raise error(path, "file is empty")
    return info


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A hidden temporary path beside ``path`` to write to (same suffix, so writers that go by the
    suffix still work); when the block ends it replaces ``path`` atomically, and after an exception it
    is removed: a reader sees the old file or the new one, and a crash leaves no half-written file
    under the real name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
