"""`tracker_status` on hand-built `tracker_polls` rows: every field, exactly."""

from datetime import UTC, datetime, timedelta

from funding_pipeline.lib.status import tracker_status
from funding_pipeline_tests.chunks import polls, snapshots, write_chunk

T = datetime(2026, 11, 23, 10, tzinfo=UTC)
S = timedelta(seconds=15)
NO_ROWS = snapshots()


def test_tracker_status_fields(tmp_path):
    wh = tmp_path / "warehouse"
    # Older than the 6 h lookback: never read, so bybit still counts as never polled.
    write_chunk(
        wh,
        T - timedelta(hours=7),
        (NO_ROWS, polls({"slot_at": T - timedelta(hours=7), "exchange": "bybit", "ok": False, "error": "ancient"})),
    )
    # In the lookback, outside the last hour (before the newest slot minus one hour).
    write_chunk(
        wh,
        T - timedelta(hours=1),
        (
            NO_ROWS,
            polls(
                {"slot_at": T - timedelta(hours=1), "exchange": "binance", "rows": 5},
                {"slot_at": T - timedelta(hours=1), "exchange": "okx", "rows": 4},
            ),
        ),
    )
    write_chunk(
        wh,
        T,
        (
            NO_ROWS,
            polls(
                {"slot_at": T, "exchange": "binance", "rows": 5},
                {"slot_at": T, "exchange": "okx", "ok": False, "error": "HttpStatusError: HTTP 503"},
            ),
        ),
        (
            NO_ROWS,
            polls(
                {"slot_at": T + S, "exchange": "binance", "rows": 6},
                {"slot_at": T + S, "exchange": "okx", "ok": False, "error": "RequestTimeout: no answer within 12s"},
            ),
        ),
        (
            NO_ROWS,
            polls(
                {"slot_at": T + 2 * S, "exchange": "binance", "rows": 0},
                {"slot_at": T + 2 * S, "exchange": "okx", "rows": 4, "rejected": 1, "error": "1 market(s) rejected: x"},
            ),
        ),
        (
            NO_ROWS,
            polls(
                {"slot_at": T + 3 * S, "exchange": "binance", "ok": False, "error": "BadBody: html"},
                {"slot_at": T + 3 * S, "exchange": "okx", "rows": 4},
            ),
        ),
    )
    now = T + timedelta(minutes=5)

    table = tracker_status(wh, ["binance", "bybit", "okx"], now)

    assert table.column_names == [
        "exchange",
        "enabled",
        "last_slot_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "consecutive_failures",
        "slots_ok_last_hour",
        "slots_last_hour",
        "rows_last_slot",
        "computed_at",
    ]
    assert [tuple(r.values()) for r in table.to_pylist()] == [
        # two trailing failures: an empty answer, then a bad body
        ("binance", True, T + 3 * S, T + S, T + 3 * S, "BadBody: html", 2, 2, 4, 0, now),
        # enabled but never polled: a row with nulls, not a missing row
        ("bybit", True, None, None, None, None, 0, 0, 0, None, now),
        # a poll with rows and rejected markets counts as a success
        ("okx", True, T + 3 * S, T + 3 * S, T + S, "RequestTimeout: no answer within 12s", 0, 2, 4, 4, now),
    ]


def test_answered_with_no_rows_is_the_error_of_an_empty_poll(tmp_path):
    wh = tmp_path / "warehouse"
    write_chunk(wh, T, (NO_ROWS, polls({"slot_at": T, "exchange": "okx", "rows": 0})))

    (row,) = tracker_status(wh, ["okx"], T + timedelta(minutes=5)).to_pylist()

    assert (row["last_error_at"], row["last_error"], row["consecutive_failures"], row["slots_ok_last_hour"]) == (
        T,
        "answered with no rows",
        1,
        0,
    )


def test_a_poll_whose_markets_were_all_rejected_is_a_failure_with_its_reason(tmp_path):
    wh = tmp_path / "warehouse"
    reason = "3 market(s) rejected: okx tickers $.data[0].markPx: not finite (got 'Infinity')"
    write_chunk(
        wh,
        T,
        (NO_ROWS, polls({"slot_at": T, "exchange": "okx", "rows": 2})),
        (NO_ROWS, polls({"slot_at": T + S, "exchange": "okx", "rows": 0, "rejected": 3, "error": reason})),
    )

    (row,) = tracker_status(wh, ["okx"], T + timedelta(minutes=5)).to_pylist()

    assert (row["last_success_at"], row["last_error_at"], row["last_error"], row["consecutive_failures"]) == (
        T,
        T + S,
        reason,
        1,
    )
