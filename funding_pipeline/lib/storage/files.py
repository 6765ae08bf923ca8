"""DuckDB files: copy-on-write writes, the append-only chunk writer, schema-version checks.

Readers must never block writers (DuckDB allows one read-write process per file, and none
while another process holds it). So a finished file is never written again: a change is a
new temp file, fsynced and renamed over the old one; a reader holding the old inode keeps it.
Every connection is closed in `finally`, unlike `DuckDBResource.get_connection()`.
"""

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from funding_pipeline.lib.storage.layout import OPEN_SUFFIX, TMP_MARK
from funding_pipeline.lib.storage.schemas import TABLES, Table

META_SQL = (
    "CREATE TABLE IF NOT EXISTS _meta (table_name VARCHAR PRIMARY KEY, schema_version INTEGER, "
    "written_at TIMESTAMP WITH TIME ZONE)"
)


class SchemaVersionError(RuntimeError):
    """A file written under another schema version than this code reads."""


@contextlib.contextmanager
def connect(path: Path, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def attach_sql(path: Path, alias: str, *, read_only: bool = True, block_size: int | None = None) -> str:
    """ATTACH takes no bound parameters: the path is quoted here, the alias is ours; `block_size`
    applies to a file this creates."""
    if not alias.isidentifier():
        raise ValueError(f"bad alias {alias!r}")
    quoted = str(path).replace("'", "''")
    mode = " (READ_ONLY)" if read_only else "" if block_size is None else f" (BLOCK_SIZE {int(block_size)})"
    return f"ATTACH '{quoted}' AS {alias}{mode}"  # sql-ok: quoted path, generated alias, integer size


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def create_tables(con: duckdb.DuckDBPyConnection, tables: list[Table]) -> None:
    con.execute(META_SQL)
    for table in tables:
        con.execute(table.create_sql())
        # now() in SQL: binding a tz-aware datetime costs DuckDB ~15 ms per statement.
        con.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?, now())", [table.name, table.version])


def insert_arrow(con: duckdb.DuckDBPyConnection, table: Table, data: pa.Table) -> int:
    """Bulk insert by column name through Arrow: no parameter lists, no values in SQL text.

    The columns are picked by name into the table's order, then inserted as a relation: no view
    to register and drop, ~15 % less CPU per collection slot than `INSERT ... SELECT`."""
    if data.num_rows == 0:
        return 0
    con.from_arrow(data.select(list(table.column_names))).insert_into(table.name)
    return data.num_rows


_writer = threading.local()

# A small file (a 1m file of a chunk: 7,500 rows) is written with 64 KB blocks instead of 256 KB
# (-37 % on disk, -15 % commit) and plain strings: DuckDB's string compression analysis was ~40 %
# of the write and saved nothing, since such a file fills whole blocks either way.
SMALL_BLOCK_SIZE = 65536
STRING_COMPRESSION = "fsst,dictionary,dict_fsst"


def _writer_instance() -> duckdb.DuckDBPyConnection:
    """The in-memory DuckDB this thread's copy-on-write writes attach their new files to.

    Opening and closing a database instance per file cost ~13 ms (a 1m file of a 5-minute
    chunk is ~20 ms of work); attaching a file to a running instance costs ~1 ms. One per
    thread and process: a connection is not shared across threads or a fork.
    """
    inst = getattr(_writer, "instance", None)
    if inst is None or _writer.pid != os.getpid():
        inst = duckdb.connect(":memory:")
        inst.execute("SET GLOBAL TimeZone = 'UTC'")
        # Every commit checkpoints: a new file's rows go to its blocks once instead of to the
        # WAL first (the WAL protects nothing here, the file is not renamed into place before).
        inst.execute("SET GLOBAL checkpoint_threshold = '0b'")
        _writer.threads = inst.execute("SELECT current_setting('threads')").fetchone()[0]
        _writer.instance, _writer.pid = inst, os.getpid()
    return inst


def _drop_writer_instance() -> None:
    """After a failed write: close the instance, so nothing it attached stays attached."""
    inst = getattr(_writer, "instance", None)
    _writer.instance = None
    if inst is not None:
        inst.close()


def write_atomic(
    path: Path,
    tables: list[Table],
    fill: Callable[[duckdb.DuckDBPyConnection], None],
    *,
    threads: int | None = None,
    small: bool = False,
) -> Path:
    """Build a whole new file with `fill`, then rename it over `path` in one step.

    `fill` gets a connection whose default database is the new file; whatever it attaches is
    detached before the rename. A crash before the rename leaves the previous file untouched
    (and a temp file that `doctor` reports); readers of the previous file are never blocked.
    `threads` caps DuckDB's threads for this write (default: all cores); `small` is for files of
    a few thousand rows (see `SMALL_BLOCK_SIZE`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    tmp = path.with_name(f".{path.name}{TMP_MARK}{tag}")
    alias = f"_new_{tag}"
    try:
        con = _writer_instance().cursor()
        try:
            con.execute("SET GLOBAL threads = ?", [threads or _writer.threads])
            con.execute("SET GLOBAL disabled_compression_methods = ?", [STRING_COMPRESSION if small else ""])
            con.execute(attach_sql(tmp, alias, read_only=False, block_size=SMALL_BLOCK_SIZE if small else None))
            con.execute(f"USE {alias}")  # sql-ok: generated alias
            con.execute("BEGIN")
            create_tables(con, tables)
            fill(con)
            con.execute("COMMIT")
            con.execute(f"CHECKPOINT {alias}")  # sql-ok: generated alias; DuckDB syncs the file it checkpoints
            con.execute("USE memory")
            for (name,) in con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall():
                if name != "memory":
                    con.execute(f'DETACH "{name}"')  # sql-ok: names from the catalog
        except BaseException:
            con.close()
            _drop_writer_instance()
            raise
        con.close()
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        _remove(tmp)
        raise
    return path


def replace_where(
    path: Path,
    table: Table,
    keep_sql: str,
    keep_params: list,
    add: pa.Table | Callable[[duckdb.DuckDBPyConnection], None],
    *,
    threads: int | None = None,
) -> Path:
    """Copy-on-write upsert: old rows matching `keep_sql` stay, then `add` adds the new ones.

    `keep_sql` is a fixed predicate with `?` placeholders (rows outside the partition being
    rewritten), so a rerun of a partition replaces exactly that partition. `add` is an Arrow
    table or a function inserting with SQL (aggregates computed inside DuckDB); `threads` as
    in `write_atomic`.
    """
    old = path if path.exists() else None

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        if old is not None:
            con.execute(attach_sql(old, "old"))  # write_atomic detaches it
            check_version(con, "old", table, old)
            cols = ", ".join(f'"{c}"' for c in table.column_names)
            con.execute(
                f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM old.{table.name} WHERE {keep_sql}",  # sql-ok
                keep_params,
            )
        if isinstance(add, pa.Table):
            insert_arrow(con, table, add)
        else:
            add(con)

    return write_atomic(path, [table], fill, threads=threads)


def check_version(con: duckdb.DuckDBPyConnection, alias: str, table: Table, path: Path) -> None:
    try:
        found = con.execute(
            f"SELECT schema_version FROM {alias}._meta WHERE table_name = ?",  # sql-ok: alias is generated
            [table.name],
        ).fetchone()
    except duckdb.CatalogException:
        found = None
    if found is None:
        raise SchemaVersionError(f"{path}: no schema version recorded for {table.name}")
    if found[0] != table.version:
        raise SchemaVersionError(
            f"{path}: {table.name} has schema version {found[0]}, this code reads version {table.version}"
        )


def attach_all(con: duckdb.DuckDBPyConnection, table: Table, paths: Sequence[Path], prefix: str) -> str:
    """Attach `paths` read-only as `<prefix><n>`, check their versions of `table` in one
    statement, and return a SELECT of `table` over all of them (empty when there are none)."""
    aliases = [f"{prefix}{n}" for n in range(len(paths))]
    for alias, path in zip(aliases, paths, strict=True):
        con.execute(attach_sql(path, alias))
    if aliases:
        select = "SELECT {n}, schema_version FROM {a}._meta WHERE table_name = ?"  # sql-ok: generated aliases
        union = " UNION ALL ".join(select.format(n=n, a=a) for n, a in enumerate(aliases))
        try:
            found = dict(con.execute(union, [table.name] * len(aliases)).fetchall())
        except duckdb.CatalogException:  # a file without `_meta`: found below, with its name
            found = {}
        for n, (alias, path) in enumerate(zip(aliases, paths, strict=True)):
            if found.get(n) != table.version:
                check_version(con, alias, table, path)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    parts = [f"SELECT {cols} FROM {a}.{table.name}" for a in aliases]  # sql-ok: generated identifiers
    return " UNION ALL ".join(parts) if parts else table.empty_select()


def file_versions(path: Path) -> dict[str, int]:
    """Table -> schema version recorded in a finished file (opened read-only)."""
    with connect(path, read_only=True) as con:
        return dict(con.execute("SELECT table_name, schema_version FROM _meta").fetchall())


class ChunkWriter:
    """Append-only writer for the collection run's current 5-minute chunk.

    The file is `<MM>.duckdb.open` while written (readers skip it) and is renamed to
    `<MM>.duckdb` by `close()`, after which it is never written again. Reopening an existing
    open chunk (a relaunched run) continues it; `slots()` says which slots it already holds.
    """

    TABLES = (TABLES["market_snapshots"], TABLES["tracker_polls"])

    def __init__(self, final_path: Path):
        self.final_path = final_path
        self.path = final_path.with_name(final_path.name + OPEN_SUFFIX)
        final_path.parent.mkdir(parents=True, exist_ok=True)
        if final_path.exists():
            raise FileExistsError(f"{final_path} is closed; closed chunks are never rewritten")
        resuming = self.path.exists()
        self.con = duckdb.connect(str(self.path))
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            # A slot is ~1,500 rows: starting DuckDB's worker threads for it costs more CPU than
            # they save (append 20 -> 9 ms per slot, docs/benchmarks.md "Collection").
            self.con.execute("SET threads = 1")
            if resuming:  # a chunk opened by older code keeps its version; never relabel it
                for table in self.TABLES:
                    check_version(self.con, "main", table, self.path)
            create_tables(self.con, list(self.TABLES))
        except BaseException:
            self.con.close()
            raise

    def slots(self) -> set[datetime]:
        return {r[0] for r in self.con.execute("SELECT DISTINCT slot_at FROM tracker_polls").fetchall()}

    def append(self, snapshots: pa.Table, polls: pa.Table) -> None:
        """One slot's rows and poll outcomes, committed together."""
        self.con.execute("BEGIN")
        try:
            insert_arrow(self.con, self.TABLES[0], snapshots)
            insert_arrow(self.con, self.TABLES[1], polls)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def close(self) -> Path:
        try:
            self.con.execute("CHECKPOINT")
        finally:
            self.con.close()
        _fsync(self.path)
        os.replace(self.path, self.final_path)
        _fsync(self.final_path.parent)
        return self.final_path

    def abandon(self) -> None:
        """Close without finishing (the run is stopping); a relaunch resumes the file."""
        self.con.close()
