"""Dagster metadata shared by every domain: owners, column schemas, settings of the run."""

import dagster as dg

from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.settings import Settings, load_settings
from funding_pipeline.lib.storage.schemas import TABLES

OWNERS = ["team:funding-data"]


def column_schema(table: str) -> dict:
    columns = [dg.TableColumn(name, dtype) for name, dtype in TABLES[table].columns]
    return {"dagster/column_schema": dg.TableSchema(columns=columns), "table": table}


def settings() -> Settings:
    """Settings read at call time, validated against the registered exchanges."""
    return load_settings(known_exchanges=tuple(all_exchanges()))


def enabled_exchange_ids(current: Settings) -> list[str]:
    registered = list(all_exchanges())
    return [e for e in registered if current.exchanges is None or e in current.exchanges]


def settings_metadata(current: Settings) -> dict[str, dg.MetadataValue]:
    return {
        "data_root": dg.MetadataValue.path(str(current.data_dir)),
        **{k: dg.MetadataValue.text(v) for k, v in current.as_metadata().items() if k != "data_root"},
    }
