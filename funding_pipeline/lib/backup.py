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


def restore(src: Path, warehouse: Path, *, overwrite: bool = False) -> RestoreReport:
    """Verify every checksum first, then copy each file into place by rename."""
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{src} has no {MANIFEST}: not a backup")
    entries = json.loads(manifest_path.read_text())["files"]
    for entry in entries:
        path = src / "warehouse" / entry["path"]
        if not path.is_file():
            raise BackupError(f"backup is missing {entry['path']}")
        if _sha256(path) != entry["sha256"]:
            raise BackupError(f"checksum mismatch for {entry['path']}: the backup is damaged")
    existing = finished_files(warehouse) if warehouse.exists() else []
    if existing and not overwrite:
        raise BackupError(
            f"data root {warehouse.parent} already holds {len(existing)} file(s); pass --overwrite to replace"
        )
    restored, total = [], 0
    for entry in entries:
        target = warehouse / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}{layout.TMP_MARK}restore")
        shutil.copyfile(src / "warehouse" / entry["path"], tmp)
        os.replace(tmp, target)
        restored.append(entry["path"])
        total += entry["bytes"]
    return RestoreReport(restored, total)
