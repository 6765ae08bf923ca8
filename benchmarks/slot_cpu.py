"""CPU per collection slot at ~1,500 markets, measured on the real code path.

The bundled recordings hold ~57 markets across the 21 venues. This script writes scaled copies
of them to a temp dir: every market list of every cassette is replicated `copies` times with
distinct symbols and ids (`ZAB` + `BTCUSDT`, `hyna:ZABBTC`, contract id + k x 10^9, ...), joins
between endpoints stay intact, skipped markets (delisted, spot, dated) are replicated too, and
venues that ask one market per request (GRVT, Hibachi) get one cassette per replicated market.
Then it runs slots the way `collector.collect_hour` does:

    poll_slot (all venues, replay transport)  ->  snapshots_table + polls_table  ->  ChunkWriter.append

and reports process CPU (`time.process_time`, all threads incl. DuckDB's) per slot, median over
`--slots` slots after `--warmup` slots, split into poll+parse, Arrow build and DuckDB append; the
chunk rotation (close + open, every 20 slots; the last one is timed when fewer slots run) is added
per slot for the comparison with the target.
"poll+parse" is itemised: replay lookup (stands in for the network; not production work), JSON
decode, and the rest (httpx/asyncio machinery, venue parsers, `make_row`).

The stock replay transport is used (`polling.replay_transports`, cassettes indexed by method, URL
and pinned query values); its lookup is timed on its own line.

    python benchmarks/slot_cpu.py [--markets 1500] [--slots 40] [--warmup 5] [--profile] [--keep DIR]
"""

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The checkout this script lives in, not whichever copy of the package is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import funding_pipeline

RECORDINGS = Path(funding_pipeline.__file__).parent / "recordings"
START = datetime(2026, 11, 23, 12, tzinfo=UTC)
SLOT = timedelta(seconds=15)
SLOTS_PER_CHUNK = 20
TARGET_MS = 50.0

# Keys naming a market (symbol, base) or identifying it (ids used to join endpoints).
NAME_KEYS = frozenset(
    {
        "symbol",
        "instId",
        "name",
        "ticker",
        "instrument",
        "contractName",
        "displayTicker",
        "uiName",
        "assetName",
        "base",
        "baseCoin",
        "baseTokenName",
        "base_asset",
        "base_currency",
        "underlyingSymbol",
        "coin",
    }
)
ID_KEYS = frozenset({"market_id", "contractId", "id", "productId", "clobPairId"})
IDENTITY = NAME_KEYS | ID_KEYS
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-")


# --- scaling -------------------------------------------------------------------------------


def _code(k: int) -> str:
    """Copy k -> an upper-case tag (`ZAB`, `ZAC`, ...): no digits, so multiplier rules stay put."""
    letters = ""
    while True:
        k, r = divmod(k, 26)
        letters = chr(65 + r) + letters
        if k == 0:
            break
    return "Z" + letters.rjust(2, "A")


def tag_name(value: str, k: int) -> str:
    """`BTCUSDT` -> `ZABBTCUSDT`; prefixes stay in front: `xyz:ZABAAPL`, `PERP_ZABBTC_USDC`."""
    if k == 0 or not value:
        return value
    prefix, sep, rest = value.partition(":")
    if sep:
        return f"{prefix}:{_code(k)}{rest}"
    if value.startswith("PERP_"):
        return f"PERP_{_code(k)}{value[5:]}"
    return _code(k) + value


def tag_id(value, k: int):
    if k == 0 or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value + k * 100_000
    if isinstance(value, str):
        if value.isdigit():
            return str(int(value) + k * 1_000_000_000)
        if _UUID.match(value):
            head = (int(value[:8], 16) + k * 0x01000193) % 2**32
            return f"{head:08x}{value[8:]}"
        return tag_name(value, k)
    return value


def tag_tree(node, k: int):
    """A copy of `node` with every market name and id made distinct for copy k."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in NAME_KEYS and isinstance(value, str):
                out[key] = tag_name(value, k)
            elif key in ID_KEYS and isinstance(value, int | str):
                out[key] = tag_id(value, k)
            else:
                out[key] = tag_tree(value, k)
        return out
    if isinstance(node, list):
        return [tag_tree(v, k) for v in node]
    return node


def _has_identity(item) -> bool:
    return isinstance(item, dict) and any(key in item for key in IDENTITY)


def scale(node, copies: int):
    """Replicate the first market list (or market map) found on each path `copies` times."""
    if isinstance(node, list):
        if node and all(isinstance(x, dict) for x in node) and any(_has_identity(x) for x in node):
            return [tag_tree(x, k) for k in range(copies) for x in node]
        if len(node) == 2 and isinstance(node[0], dict) and "universe" in node[0] and isinstance(node[1], list):
            # Hyperliquid [meta, assetCtxs]: contexts carry no name and align with the universe by index.
            return [scale(node[0], copies), [x for _ in range(copies) for x in node[1]]]
        return [scale(x, copies) for x in node]
    if isinstance(node, dict):
        if node and all(
            _has_identity(v) and any(v.get(key) == name for key in NAME_KEYS) for name, v in node.items()
        ):  # a map keyed by market name (dYdX perpetualMarkets)
            return {tag_name(name, k): tag_tree(v, k) for k in range(copies) for name, v in node.items()}
        return {key: scale(v, copies) for key, v in node.items()}
    return node


def scale_cassettes(src: Path, dst: Path, copies: int) -> dict[str, int]:
    """Scaled copies of every venue folder under `src`; returns cassette files per venue."""
    written: dict[str, int] = {}
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        target = dst / folder.name
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for path in sorted(folder.glob("*.json")):
            doc = json.loads(path.read_text())
            body = doc["response"].get("json")
            holds_markets = body is not None and scale(body, 2) != body
            asks_one_market = any(_has_identity(doc["request"].get(part)) for part in ("params", "json"))
            if holds_markets or not asks_one_market:
                if holds_markets:
                    doc = {**doc, "response": {**doc["response"], "json": scale(body, copies)}}
                (target / path.name).write_text(json.dumps(doc))
                count += 1
            else:  # a per-market call: one cassette per copy, request and answer renamed alike
                endpoint, step = path.name.rsplit(".", 2)[:2]
                for k in range(copies):
                    (target / f"{endpoint}__{k:04d}.{step}.json").write_text(json.dumps(tag_tree(doc, k)))
                    count += 1
        written[folder.name] = count
    return written


# --- replay with pre-selected candidates ------------------------------------------------------


async def no_wait(seconds: float) -> None:
    """Pacing and backoff cost no real time, as with the demo's simulated clock."""
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_slots(replay_dir: Path, warehouse: Path, args, timer: dict, profile: bool = False) -> dict:
    from funding_pipeline.lib.exchanges import all_exchanges
    from funding_pipeline.lib.http.breaker import Breaker
    from funding_pipeline.lib.polling import SLOT_SECONDS, poll_slot, replay_transports
    from funding_pipeline.lib.snapshots import polls_table, snapshots_table
    from funding_pipeline.lib.storage import layout
    from funding_pipeline.lib.storage.files import ChunkWriter

    exchanges = list(all_exchanges().values())
    transports = replay_transports(replay_dir)
    breakers = {e.venue.id: Breaker() for e in exchanges}
    samples: list[dict] = []
    chunk_ms: list[float] = []
    writer = None
    profiler = cProfile.Profile() if profile else None
    first_outcomes = None
    for i in range(args.warmup + args.slots):
        slot = START + SLOT * i
        measured = i >= args.warmup
        c0 = time.process_time()
        if i % SLOTS_PER_CHUNK == 0:  # the collector opens a new chunk file every 20 slots
            if writer is not None:
                writer.close()
            writer = ChunkWriter(layout.chunk_path(warehouse, slot))
        chunk_cpu = time.process_time() - c0
        if measured and i % SLOTS_PER_CHUNK == 0 and i > 0:
            chunk_ms.append(chunk_cpu * 1000)
        timer["replay"] = timer["decode"] = 0.0
        if profiler is not None and measured:
            profiler.enable()
        t0 = time.process_time()
        outcomes = await poll_slot(
            exchanges, slot, int(slot.timestamp()) // SLOT_SECONDS, transports, breakers, no_wait
        )
        t1 = time.process_time()
        snapshots, polls = snapshots_table(outcomes), polls_table(outcomes, 0.0)
        t2 = time.process_time()
        writer.append(snapshots, polls)
        t3 = time.process_time()
        if profiler is not None and measured:
            profiler.disable()
        first_outcomes = first_outcomes or outcomes
        if measured:
            samples.append(
                {
                    "total": t3 - t0,
                    "poll": t1 - t0,
                    "arrow": t2 - t1,
                    "append": t3 - t2,
                    "replay": timer["replay"],
                    "decode": timer["decode"],
                    "rows": snapshots.num_rows,
                }
            )
    # The last chunk's close and the next one's open: a rotation even when fewer than
    # SLOTS_PER_CHUNK slots ran (the collector rotates at the next chunk's first slot).
    c0 = time.process_time()
    writer.close()
    after = ChunkWriter(layout.chunk_path(warehouse, START + SLOT * SLOTS_PER_CHUNK * (i // SLOTS_PER_CHUNK + 1)))
    chunk_ms.append((time.process_time() - c0) * 1000)
    after.close()
    return {"samples": samples, "chunk_ms": chunk_ms, "outcomes": first_outcomes, "profiler": profiler}


async def per_venue(replay_dir: Path, timer: dict, rounds: int) -> list[tuple[str, float, float, int, int]]:
    """Each venue polled alone (no concurrency), `rounds` times: (venue, CPU ms, replay ms, rows, requests)."""
    from funding_pipeline.lib.exchanges import all_exchanges
    from funding_pipeline.lib.polling import SLOT_SECONDS, poll_exchange, replay_transports

    transports = replay_transports(replay_dir)
    out = []
    for venue_id, exchange in all_exchanges().items():
        cpu, replay = [], []
        for i in range(rounds):
            slot = START + SLOT * i
            timer["replay"] = 0.0
            started = time.process_time()
            o = await poll_exchange(
                exchange, slot, transport=transports(venue_id, int(slot.timestamp()) // SLOT_SECONDS), sleep=no_wait
            )
            cpu.append(time.process_time() - started)
            replay.append(timer["replay"])
        out.append((venue_id, statistics.median(cpu) * 1000, statistics.median(replay) * 1000, len(o.rows), o.requests))
    return out


def live_setup_cost(venues: int) -> float:
    """CPU ms live mode spends once per run and replay skips: `LiveTransports` with one
    transport per venue, all sharing one TLS context (kept for the whole run)."""
    from funding_pipeline.lib.polling import LiveTransports

    started = time.process_time()
    transports = LiveTransports()
    for i in range(venues):
        transports(f"venue{i}", 0)
    cost = (time.process_time() - started) * 1000
    asyncio.run(transports.aclose())
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=1500, help="total markets across all venues (approx.)")
    parser.add_argument("--slots", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the measured slots, print the top")
    parser.add_argument("--keep", help="write scaled cassettes and chunk files here and keep them")
    args = parser.parse_args()

    from funding_pipeline.lib.http import client

    timer = {"replay": 0.0, "decode": 0.0}
    decode = client.decode_json

    def timed_decode(response):
        started = time.process_time()
        try:
            return decode(response)
        finally:
            timer["decode"] += time.process_time() - started

    client.decode_json = timed_decode  # _request looks the name up at call time
    from funding_pipeline.lib.http.replay import ReplayTransport

    handle = ReplayTransport.handle_async_request

    async def timed_handle(self, request):
        started = time.process_time()
        try:
            return await handle(self, request)  # never suspends: timed whole
        finally:
            timer["replay"] += time.process_time() - started

    ReplayTransport.handle_async_request = timed_handle

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="slotbench-"))
    try:
        # Markets per copy: one unscaled slot (each venue's rows at copies=1).
        base_dir = root / "cassettes-x1"
        scale_cassettes(RECORDINGS, base_dir, 1)
        probe = argparse.Namespace(**{**vars(args), "slots": 1, "warmup": 0})
        base = asyncio.run(run_slots(base_dir, root / "probe-warehouse", probe, timer))
        base_rows = base["samples"][0]["rows"]
        copies = max(1, -(-args.markets // base_rows))  # ceil: at least the requested markets
        replay_dir = root / "cassettes"
        t = time.perf_counter()
        files = scale_cassettes(RECORDINGS, replay_dir, copies)
        print(
            f"recordings: {base_rows} markets in 21 venues; x{copies} copies -> {sum(files.values()):,} "
            f"cassette files in {time.perf_counter() - t:.1f}s under {replay_dir}"
        )

        result = asyncio.run(run_slots(replay_dir, root / "warehouse", args, timer))
        samples = result["samples"]
        print(f"\n{'venue':<12} {'markets':>7} {'skipped':>7} {'rejected':>8} {'requests':>8}  ok")
        for o in result["outcomes"]:
            print(
                f"{o.exchange:<12} {len(o.rows):>7} {o.skipped:>7} {len(o.rejected):>8} {o.requests:>8}  {o.ok}"
                + (f"  {o.error}" if o.error else "")
            )
        rows = samples[0]["rows"]
        alone = asyncio.run(per_venue(replay_dir, timer, rounds=max(5, args.slots // 4)))
        print(
            f"\neach venue polled alone, CPU ms (median), heaviest first:\n"
            f"{'venue':<12} {'rows':>5} {'req':>4} {'poll':>6} {'replay':>6} {'rest':>6} {'us/row':>7}"
        )
        for venue_id, cpu, replay, n, req in sorted(alone, key=lambda v: -v[1]):
            print(
                f"{venue_id:<12} {n:>5} {req:>4} {cpu:>6.1f} {replay:>6.1f} {cpu - replay:>6.1f} "
                f"{(cpu - replay) * 1000 / max(n, 1):>7.1f}"
            )
        print(
            f"{'sum':<12} {sum(v[3] for v in alone):>5} {sum(v[4] for v in alone):>4} "
            f"{sum(v[1] for v in alone):>6.1f} {sum(v[2] for v in alone):>6.1f} "
            f"{sum(v[1] - v[2] for v in alone):>6.1f}"
        )

        def med(key: str) -> float:
            return statistics.median(s[key] for s in samples) * 1000

        total = [s["total"] * 1000 for s in samples]
        rest = statistics.median((s["poll"] - s["replay"] - s["decode"]) * 1000 for s in samples)
        chunk = statistics.median(result["chunk_ms"])
        print(
            f"\n{rows:,} markets per slot, {len(samples)} measured slots after {args.warmup} warm-up "
            "; CPU ms per slot, median:"
        )
        print(f"  poll + parse       {med('poll'):7.1f}")
        print(f"    replay lookup    {med('replay'):7.1f}   (stands in for the network)")
        print(f"    JSON decode      {med('decode'):7.1f}")
        print(f"    httpx + parsers  {rest:7.1f}   (asyncio, httpx client, venue parse_*, make_row)")
        print(f"  Arrow tables       {med('arrow'):7.1f}   (snapshots_table + polls_table)")
        print(f"  DuckDB append      {med('append'):7.1f}   (ChunkWriter.append, one transaction)")
        print(
            f"  total              {statistics.median(total):7.1f}   mean {statistics.mean(total):.1f}, "
            f"p90 {pct(total, 0.9):.1f}, min {min(total):.1f}"
        )
        print(f"  chunk close+open   {chunk:7.1f}   per 20 slots = {chunk / SLOTS_PER_CHUNK:.1f} per slot")
        per_slot = statistics.median(total) + chunk / SLOTS_PER_CHUNK
        without_replay = per_slot - med("replay")
        print(f"\nper slot, chunk rotation included:     {per_slot:6.1f} ms = {per_slot / TARGET_MS:.2f}x target")
        print(f"  without the replay lookup:           {without_replay:6.1f} ms = {without_replay / TARGET_MS:.2f}x")
        print(
            f"\nlive mode only (not in the numbers above): transports and one TLS context, once per run: "
            f"{live_setup_cost(len(result['outcomes'])):.0f} ms CPU; per request, the network transport "
            "(HTTP/1.1 parsing, TLS, gzip) in place of the replay lookup"
        )
        if args.profile:  # a separate pass: profiler overhead must not reach the numbers above
            profiled = asyncio.run(run_slots(replay_dir, root / "warehouse-profile", args, timer, profile=True))
            for order, title in (("tottime", "own time"), ("cumulative", "including callees")):
                out = io.StringIO()
                pstats.Stats(profiled["profiler"], stream=out).strip_dirs().sort_stats(order).print_stats(30)
                print(f"\ncProfile over {args.slots} slots, by {title}:\n{out.getvalue()}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
