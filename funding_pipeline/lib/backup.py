"""Backup and restore of every finished warehouse file, with a SHA-256 manifest.

Finished files are immutable (changes arrive by rename), so copying from an open handle
gives a consistent copy of each file even while the pipeline runs. Open chunks are skipped.
"""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from funding_pipeline.lib.storage import layout

MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def finished_files(warehouse: Path) -> list[Path]:
    return sorted(p for kind in layout.KINDS for p in kind.files(warehouse))


def backup(warehouse: Path, dest: Path) -> dict:
    """Copy every finished file to `dest` (which must be empty) and write the manifest."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"backup destination {dest} is not empty")
    entries = []
    for src in finished_files(warehouse):
        rel = src.relative_to(warehouse)
        target = dest / "warehouse" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with src.open("rb") as fh, target.open("wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
        entries.append({"path": rel.as_posix(), "bytes": target.stat().st_size, "sha256": _sha256(target)})
    manifest = {"created_at": datetime.now(UTC).isoformat(), "files": entries}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


@dataclass
class RestoreReport:
    restored: list[str]
    bytes: int


def _checked_path(warehouse: Path, rel: str) -> Path:
    """The target of a manifest entry, which must be a finished file at a layout place: a
    manifest naming `../x` or a stray file would otherwise write outside the layout."""
    target = warehouse / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts or not layout.is_expected(warehouse, target):
        raise BackupError(f"manifest entry {rel!r} is not a warehouse file of the layout")
    return target


def restore(src: Path, warehouse: Path, *, overwrite: bool = False) -> RestoreReport:
    """Verify every path and checksum first, then copy each file into place by rename.

    A data root holding any file at all (finished, open chunk, temp or foreign) counts as
    non-empty: restoring beside an open chunk or a stray copy would mix two histories."""
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{src} has no {MANIFEST}: not a backup")
    entries = json.loads(manifest_path.read_text())["files"]
    for entry in entries:
        _checked_path(warehouse, entry["path"])
        path = src / "warehouse" / entry["path"]
        if not path.is_file():
            raise BackupError(f"backup is missing {entry['path']}")
        if _sha256(path) != entry["sha256"]:
            raise BackupError(f"checksum mismatch for {entry['path']}: the backup is damaged")
    root = warehouse.parent
    existing = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    if existing and not overwrite:
        raise BackupError(f"data root {root} already holds {len(existing)} file(s); pass --overwrite to replace")
    restored, total = [], 0
    for entry in entries:
        target = _checked_path(warehouse, entry["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}{layout.TMP_MARK}restore")
        with (src / "warehouse" / entry["path"]).open("rb") as fh, tmp.open("wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        restored.append(entry["path"])
        total += entry["bytes"]
    return RestoreReport(restored, total)
