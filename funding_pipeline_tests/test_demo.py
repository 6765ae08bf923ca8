"""The offline demo through Dagster: the README's first command, and how asset checks run in CI."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime

from funding_pipeline import warehouse
from funding_pipeline.lib.candles import DEFAULT_SYMBOLS
from funding_pipeline.lib.exchanges import all_exchanges


def test_one_hour_demo_passes_its_blocking_checks(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDING_") and k != "DAGSTER_HOME"} | {
        "FUNDING_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }

    result = subprocess.run(
        [sys.executable, "-m", "funding_pipeline.cli", "demo", "--hours", "1", "--end", "2026-11-23T12:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "collection_job[2026-11-23-11:00]: ok" in result.stdout
    assert "stats_1h_job[2026-11-23-11:00]: ok" in result.stdout
    assert "tokens_job: ok" in result.stdout
    for exchange in all_exchanges():
        assert f"funding_history_job[2026-11-23|{exchange}]: ok" in result.stdout
    assert "price_candles_job[2026-11-23]: ok" in result.stdout
    assert "funding_ma_job: ok" in result.stdout
    assert "check failed" not in result.stdout
    assert (tmp_path / "dagster_home" / "dagster.yaml").is_file()
    # The runs are recorded in the instance at DAGSTER_HOME.
    assert any((tmp_path / "dagster_home").iterdir())
    con = warehouse.connect(tmp_path / "data")
    venues = con.execute("SELECT count(DISTINCT exchange) FROM tracker_polls WHERE ok").fetchone()[0]
    assert venues == len(all_exchanges())  # every registered venue answered from its recordings
    # History: every venue settled prints on 2026-11-23 before 12:00 (variational derives them
    # from the snapshots of 11:00-12:00), one candle per default symbol, MAs up to the window end.
    printed = con.execute("SELECT count(DISTINCT exchange) FROM funding_rate_history").fetchone()[0]
    end = datetime(2026, 11, 23, 12, tzinfo=UTC)
    late = con.execute("SELECT count(*) FROM funding_rate_history WHERE funding_time > ?", [end]).fetchone()
    candles = con.execute("SELECT count(*), min(day), max(day) FROM price_candles").fetchone()
    as_of = con.execute("SELECT DISTINCT computed_at FROM funding_rate_ma").fetchall()
    assert printed == len(all_exchanges())
    assert late == (0,)
    assert candles == (len(DEFAULT_SYMBOLS), date(2026, 11, 23), date(2026, 11, 23))
    assert as_of == [(end,)]
