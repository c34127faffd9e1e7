"""Where index versions live on disk, and how a new one replaces the old atomically.

``index_dir/CURRENT`` names the active version folder (``v-<time>-<id>``). A build writes
into ``.build-<id>``, renames it to its version name and then replaces ``CURRENT`` with
``os.replace``; a crash at any point leaves the previous version loadable. Builds take an
exclusive lock on ``index_dir/.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import IndexCorruptError

CURRENT = "CURRENT"
LOCK = ".lock"
BUILD_PREFIX = ".build-"
VERSION_PREFIX = "v-"
KEEP_VERSIONS = 2  # the active one and its predecessor (readers may still be loading it)


def current_version(index_dir: Path) -> Path | None:
    """The active version folder, or ``None`` when nothing has been built.

    :class:`IndexCorruptError` when ``CURRENT`` is not the name of a version folder (binary
    garbage, a path leading elsewhere).
    """
    pointer = Path(index_dir) / CURRENT
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raw = b"\xff"
    fix = f"run `rag build --rebuild --index-dir {index_dir}` to build the index again"
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexCorruptError(f"{pointer} is damaged (not a version name); {fix}") from None
    if not name:
        return None
    if not name.startswith(VERSION_PREFIX) or "/" in name or "\\" in name or not name.isprintable():
        raise IndexCorruptError(f"{pointer} names {name[:80]!r}, which is not an index version; {fix}")
    return Path(index_dir) / name


def new_build_dir(index_dir: Path) -> Path:
    """A fresh, empty folder for a build in progress."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / f"{BUILD_PREFIX}{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, build_dir: Path) -> Path:
    """Turn a finished build folder into the active version (atomic for readers)."""
    index_dir = Path(index_dir)
    for file in build_dir.rglob("*"):
        if file.is_file():
            with open(file, "rb+") as handle:
                os.fsync(handle.fileno())
    name = f"{VERSION_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{build_dir.name[len(BUILD_PREFIX):]}"
    final = index_dir / name
    os.rename(build_dir, final)
    tmp = index_dir / f"{CURRENT}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text(name + "\n", encoding="utf-8")
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    return final


def clean_up(index_dir: Path) -> None:
    """Remove abandoned build folders and versions older than the previous one (lock held)."""
    index_dir = Path(index_dir)
    try:
        active = current_version(index_dir)
    except IndexCorruptError:
        return  # nothing is safe to delete without knowing the active version
    versions = sorted(
        (p for p in index_dir.glob(f"{VERSION_PREFIX}*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    keep = {active} if active else set()
    for version in versions:
        if len(keep) >= KEEP_VERSIONS:
            break
        keep.add(version)
    for version in versions:
        if version not in keep:
            shutil.rmtree(version, ignore_errors=True)
    for stale in index_dir.glob(f"{BUILD_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for tmp in index_dir.glob(f"{CURRENT}.tmp-*"):
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock so that two builds of one index folder never interleave."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
