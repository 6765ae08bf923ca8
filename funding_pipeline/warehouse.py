"""Read access: one read-only DuckDB connection with a view per table over all finished files.

    from funding_pipeline import warehouse
    con = warehouse.connect()
    con.sql("SELECT exchange, count(*) FROM market_snapshots GROUP BY 1").show()

Open chunks and temp files are never attached, so reading never blocks the collection run.
"""

import itertools
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import duckdb

from funding_pipeline.lib.settings import load_settings
from funding_pipeline.lib.storage.files import attach_sql, check_version
from funding_pipeline.lib.storage.layout import KINDS
from funding_pipeline.lib.storage.schemas import TABLES

_aliases = itertools.count()


def connect(
    data_dir: str | Path | None = None, tables: Iterable[str] | None = None, since: datetime | None = None
) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with the finished warehouse files attached read-only.

    Views are empty (with the right columns) where no file exists yet. `tables` limits the
    attached files to those tables, `since` to files whose period ends after it: each file costs
    ~2 ms to attach, and a full retention window is ~11,000 files (7 days of chunks, 30 of 1m
    files). A file with another schema version raises `SchemaVersionError` naming it;
    `funding-pipeline doctor` lists them all.
    """
    root = Path(data_dir).resolve() if data_dir is not None else load_settings().data_dir
    warehouse = root / "warehouse"
    wanted = set(TABLES) if tables is None else set(tables)
    files = {name: kind.files(warehouse, since) for kind in KINDS for name in kind.tables if name in wanted}
    return connect_files(files)


def connect_files(files: dict[str, list[Path]]) -> duckdb.DuckDBPyConnection:
    """Views over exactly the given files per table (checks read one partition's files this way)."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        attached: dict[Path, str] = {}
        for name, paths in files.items():
            table = TABLES[name]
            aliases = []
            for path in paths:
                if path not in attached:
                    attached[path] = f"f{next(_aliases)}"
                    con.execute(attach_sql(path, attached[path]))
                check_version(con, attached[path], table, path)
                aliases.append(attached[path])
            cols = ", ".join(f'"{c}"' for c in table.column_names)
            parts = [f"SELECT {cols} FROM {a}.{name}" for a in aliases]  # sql-ok: generated
            body = " UNION ALL ".join(parts) if parts else table.empty_select()
            con.execute(f"CREATE VIEW {name} AS {body}")  # sql-ok: fixed identifiers
    except BaseException:
        con.close()
        raise
    return con
