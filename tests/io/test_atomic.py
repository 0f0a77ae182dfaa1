"""Atomic writes: all or nothing, with normal file permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vitreo.io.atomic import atomic_path, write_text_atomic


def test_atomic_write_replaces_target_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out" / "file.txt"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "map.mrc"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.suffix == ".mrc" and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["map.mrc"]
