"""`funding-pipeline`: what is not a Dagster job — demo, sql, doctor, backup, restore."""

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from funding_pipeline.lib.settings import SettingsError, load_settings
from funding_pipeline.lib.storage.files import SchemaVersionError
from funding_pipeline.lib.storage.schemas import TABLES


def _settings():
    """The environment contract, validated against the registered exchanges (as runs do)."""
    from funding_pipeline.lib.exchanges import all_exchanges

    return load_settings(known_exchanges=tuple(all_exchanges()))


def _tables_in(query: str) -> list[str]:
    words = set(re.findall(r"[a-z_0-9]+", query.lower()))
    return [t for t in TABLES if t in words]


SLOW_ATTACH_FILES = 1000  # ~2 s of attaching: worth a hint about --since
_AGO = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since_time(text: str, now: datetime | None = None) -> datetime:
    """`--since`: an age (`90m`, `6h`, `2d`) or an ISO date or time (UTC unless it names a zone)."""
    if m := _AGO.fullmatch(text.strip()):
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[m[2]]: int(m[1])})
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: give an age such as 90m, 6h or 2d, or an ISO date or time such as 2026-11-30T12:00"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def cmd_sql(args: argparse.Namespace) -> int:
    from funding_pipeline import warehouse

    # Only the tables a query names are attached (~2 ms a file); a query naming none sees all.
    # `--since` leaves out files that end before it (a 30-day 1m window is ~8,600 files).
    started = time.monotonic()
    con = warehouse.connect(tables=_tables_in(args.query) or None, since=args.since)
    attached = con.execute("SELECT count(*) FROM duckdb_databases() WHERE NOT internal AND database_name <> 'memory'")
    files, seconds = attached.fetchone()[0], time.monotonic() - started
    if args.since is None and files >= SLOW_ATTACH_FILES:
        print(f"(attached {files:,} files in {seconds:.1f}s; --since 6h, 2d or a date reads fewer)", file=sys.stderr)
    try:
        result = con.execute(args.query)
        if result.description is None:
            return 0
        columns = [d[0] for d in result.description]
        rows = result.fetchmany(args.max_rows + 1)
    except duckdb.Error as exc:
        print(f"SQL error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows[: args.max_rows]], default=str, indent=1))
    elif args.format == "csv":
        print(",".join(columns))
        for r in rows[: args.max_rows]:
            print(",".join("" if v is None else str(v) for v in r))
    else:
        print(_render_table(columns, rows[: args.max_rows]))
    if len(rows) > args.max_rows:
        print(f"(more than {args.max_rows} rows; showing the first {args.max_rows}; use --max-rows)")
    else:
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return 0


def _fmt(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _render_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[_fmt(v) for v in r] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [" " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), line]
    for r in cells:
        out.append(" " + " | ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths, strict=True)))
    return "\n".join(out)


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"-?[\d.]+(e[-+]?\d+)?", text))


def cmd_doctor(args: argparse.Namespace) -> int:
    from funding_pipeline.lib.doctor import diagnose

    settings = _settings()
    print("settings:")
    for key, value in settings.as_metadata().items():
        print(f"  {key}: {value}")
    report = diagnose(settings)
    print(f"checked {report.checked} DuckDB file(s) under {settings.data_dir}")
    for f in report.findings:
        print(f"  {f.level.upper()}: {f.path}: {f.what}")
    if report.problems:
        print(f"{len(report.problems)} problem(s) found")
        return 1
    print("no problems found")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from funding_pipeline.lib.backup import backup

    settings = _settings()
    manifest = backup(settings.warehouse, Path(args.dest).resolve())
    total = sum(e["bytes"] for e in manifest["files"])
    print(f"backed up {len(manifest['files'])} file(s), {total} bytes, from {settings.data_dir} to {args.dest}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from funding_pipeline.lib.backup import restore

    settings = _settings()
    report = restore(Path(args.src).resolve(), settings.warehouse, overwrite=args.overwrite)
    for path in report.restored:
        print(f"  restored {path}")
    print(f"restored {len(report.restored)} file(s), {report.bytes} bytes, into {settings.data_dir}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from funding_pipeline.demo import run_demo

    return run_demo(hours=args.hours, end=args.end)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funding-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the whole asset graph offline for N hours through Dagster")
    demo.add_argument("--hours", type=int, default=2)
    demo.add_argument("--end", help="UTC hour the demo ends at, e.g. 2026-11-23T12:00 (default: last full hour)")
    demo.set_defaults(func=cmd_demo)
    sql = sub.add_parser("sql", help="run SQL over the warehouse views and print a table")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--max-rows", type=int, default=200)
    sql.add_argument(
        "--since",
        type=since_time,
        help="attach only files covering time after this: an age (90m, 6h, 2d) or an ISO date/time (UTC)",
    )
    sql.set_defaults(func=cmd_sql)
    doctor = sub.add_parser("doctor", help="find stray, foreign, temp, unreadable or mis-versioned files")
    doctor.set_defaults(func=cmd_doctor)
    backup = sub.add_parser("backup", help="copy every finished file plus a checksum manifest to DEST")
    backup.add_argument("dest")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="verify a backup's checksums and restore it into the data root")
    restore.add_argument("src")
    restore.add_argument("--overwrite", action="store_true", help="replace files in a non-empty data root")
    restore.set_defaults(func=cmd_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, SchemaVersionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if type(exc).__name__ in {"BackupError", "PastHourError"}:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
