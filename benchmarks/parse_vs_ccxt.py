"""Parse throughput per venue: our pure `parse_*` functions against ccxt's parser, same payload.

For each venue the bundled recording (step 00) is scaled to about `--markets` markets with the
replication of `slot_cpu.py` (distinct symbols and ids, joins intact), dumped to JSON text, and
decoded once for each side the way each side decodes: ours with `parse_float=str` (as
`lib.http.client.decode_json`), ccxt with plain `json.loads`. Decoding is not timed.

  ours  everything the venue's `poll` does after decoding: every endpoint it reads (e.g. Binance
        premiumIndex + fundingInfo + ticker/24hr), joins, Decimal values, checks, `MarketRow`s.
  ccxt  the parse step of ccxt's own fetch on the same payload, with markets loaded (as after
        `load_markets()`, built offline from the payload): `parse_funding_rates` where ccxt
        has it (plus the in-fetch preparation, e.g. Hyperliquid's universe/ctx merge), else
        `parse_ticker` per market (marked "ticker"). No network: exchanges are only instantiated.

Both run alternately in one process, `--rounds` times; markets/s come from the median process
CPU of each side, the speedup is the median of the per-round ratios (ccxt time / our time, the
two measured back to back), which cancels most of the noise of a shared machine.
ccxt is an optional extra:  pip install -e ".[bench]"

    python benchmarks/parse_vs_ccxt.py [--markets 1000] [--rounds 15] [--venues a,b] [--profile VENUE]
"""

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slot_cpu import RECORDINGS, scale, tag_tree

OBSERVED_AT = datetime(2026, 11, 23, 12, tzinfo=UTC)
TARGET = 3.0


@dataclass
class Case:
    venue: str
    markets: int  # items in the main market list both sides walk
    ours: Callable[[], object]
    ccxt: Callable[[], object] | None = None
    ccxt_what: str = ""


def _body(venue: str, stem: str) -> object:
    return json.loads((RECORDINGS / venue / f"{stem}.00.json").read_text())["response"]["json"]


class Payloads:
    """One venue's scaled payloads, decoded for us (Decimal) and for ccxt (float)."""

    def __init__(self, venue: str, main: str, markets: int, main_list: Callable[[object], list]):
        self.venue = venue
        base = len(main_list(_body(venue, main)))
        self.copies = max(1, math.ceil(markets / base))

    def bulk(self, stem: str) -> tuple[object, object]:
        text = json.dumps(scale(_body(self.venue, stem), self.copies))
        return json.loads(text, parse_float=str), json.loads(text)

    def per_market(self, prefix: str) -> list[tuple[object, object]]:
        out = []
        for path in sorted((RECORDINGS / self.venue).glob(f"{prefix}*.00.json")):
            body = json.loads(path.read_text())["response"]["json"]
            for k in range(self.copies):
                text = json.dumps(tag_tree(body, k))
                out.append((json.loads(text, parse_float=str), json.loads(text)))
        return out


def with_markets(exchange, ids, info: dict | None = None):
    """ccxt exchange with `markets` set offline, one linear swap per market id."""
    info = info or {}
    markets = [
        exchange.safe_market_structure(
            {
                "id": i,
                "symbol": f"{i}/USD:USD",
                "base": str(i),
                "quote": "USD",
                "settle": "USD",
                "type": "swap",
                "spot": False,
                "swap": True,
                "future": False,
                "option": False,
                "contract": True,
                "linear": True,
                "inverse": False,
                "active": True,
                "info": info.get(i, {}),
            }
        )
        for i in dict.fromkeys(ids)
    ]
    exchange.set_markets(markets)
    return exchange


def _binance_dialect(module, cls: str, n: int, ccxt) -> Case:
    """Binance, Aster: ccxt fetchFundingRates reads premiumIndex only."""
    from funding_pipeline.lib.exchanges import binance

    v = module.VENUE
    p = Payloads(v.id, "premiumIndex", n, lambda b: b)
    (prem, prem_f), (info, _), (tick, _) = p.bulk("premiumIndex"), p.bulk("fundingInfo"), p.bulk("ticker_24hr")

    def ours():
        return binance.parse_premium_index(
            prem,
            observed_at=OBSERVED_AT,
            intervals=binance.parse_funding_info(info, venue=v),
            volumes=binance.parse_ticker_24hr(tick, venue=v),
            venue=v,
        )

    theirs = None
    if ccxt:
        ex = with_markets(getattr(ccxt, cls)(), [e["symbol"] for e in prem_f])

        def theirs():
            return ex.parse_funding_rates(prem_f)

    return Case(v.id, len(prem), ours, theirs, "parse_funding_rates")


def case_binance(n: int, ccxt) -> Case:
    from funding_pipeline.lib.exchanges import binance

    return _binance_dialect(binance, "binanceusdm", n, ccxt)


def case_aster(n: int, ccxt) -> Case:
    from funding_pipeline.lib.exchanges import aster

    return _binance_dialect(aster, "aster", n, ccxt)


def case_bybit(n: int, ccxt) -> Case:
    """ccxt fetchFundingRates reads /v5/market/tickers and stamps each entry with `time`."""
    from funding_pipeline.lib.exchanges import bybit

    p = Payloads("bybit", "tickers", n, lambda b: b["result"]["list"])
    (inst, _), (tick, tick_f) = p.bulk("instruments_info"), p.bulk("tickers")

    def ours():
        instruments, _ = bybit.parse_instruments_info(inst)
        return bybit.parse_tickers(tick, observed_at=OBSERVED_AT, instruments=instruments)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.bybit(), [e["symbol"] for e in tick_f["result"]["list"]])

        def theirs():
            lst = tick_f["result"]["list"]
            for entry in lst:
                entry["timestamp"] = tick_f.get("time")
            return ex.parse_funding_rates(lst)

    return Case("bybit", len(tick["result"]["list"]), ours, theirs, "parse_funding_rates")


def case_okx(n: int, ccxt) -> Case:
    """ccxt reads funding-rate?instId=ANY; we also join mark price, tickers and open interest."""
    from funding_pipeline.lib.exchanges import okx

    p = Payloads("okx", "funding-rate", n, lambda b: b["data"])
    (fr, fr_f), (mark, _), (tick, _), (oi, _) = (
        p.bulk(s) for s in ("funding-rate", "mark-price", "tickers", "open-interest")
    )

    def ours():
        return okx.parse_funding_rate(fr, observed_at=OBSERVED_AT, mark_price=mark, tickers=tick, open_interest=oi)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.okx(), [e["instId"] for e in fr_f["data"]])

        def theirs():
            return ex.parse_funding_rates(fr_f["data"])

    return Case("okx", len(fr["data"]), ours, theirs, "parse_funding_rates")


def case_hyperliquid(n: int, ccxt) -> Case:
    """The HIP-3 dexes run the same parser on the same shape."""
    from funding_pipeline.lib.exchanges import hyperliquid

    p = Payloads("hyperliquid", "metaAndAssetCtxs", n, lambda b: b[1])
    hl, hl_f = p.bulk("metaAndAssetCtxs")

    def ours():
        return hyperliquid.parse_meta_and_asset_ctxs(hl, observed_at=OBSERVED_AT)

    theirs = None
    if ccxt:
        ex = ccxt.hyperliquid()
        ex = with_markets(ex, [ex.coin_to_market_id(u["name"]) for u in hl_f[0]["universe"]])

        def theirs():  # the merge loop of hyperliquid.fetch_funding_rates, then its parser
            universe, ctxs = ex.safe_list(hl_f[0], "universe", []), ex.safe_list(hl_f, 1, [])
            merged = [ex.extend(ex.safe_dict(universe, i, {}), ex.safe_dict(ctxs, i, {})) for i in range(len(universe))]
            return ex.parse_funding_rates(merged)

    return Case("hyperliquid", len(hl[1]), ours, theirs, "parse_funding_rates")


def case_paradex(n: int, ccxt) -> Case:
    """ccxt needs each market's /markets entry (its funding period) in `market['info']`."""
    from funding_pipeline.lib.exchanges import paradex

    p = Payloads("paradex", "markets_summary", n, lambda b: b["results"])
    (summ, summ_f), (mk, mk_f) = p.bulk("markets_summary"), p.bulk("markets")

    def ours():
        return paradex.parse_markets_summary(summ, mk, observed_at=OBSERVED_AT)

    theirs = None
    if ccxt:
        perps = [m["symbol"] for m in mk_f["results"] if m.get("asset_kind") == "PERP"]
        ex = with_markets(ccxt.paradex(), perps, {m["symbol"]: m for m in mk_f["results"]})

        def theirs():
            return ex.parse_funding_rates(summ_f["results"])

    return Case("paradex", len(summ["results"]), ours, theirs, "parse_funding_rates")


def case_lighter(n: int, ccxt) -> Case:
    """We join orderBookDetails (mark, index, OI, volume) to funding-rates (the rate); ccxt's
    equivalent is its fetch_funding_rates parse (funding-rates, exchange == lighter) plus its
    fetch_tickers parse of the same orderBookDetails perpetuals (mark, index, volume)."""
    from funding_pipeline.lib.exchanges import lighter

    p = Payloads("lighter", "orderBookDetails", n, lambda b: b["order_book_details"])
    (obd, obd_f), (rates, rates_f) = p.bulk("orderBookDetails"), p.bulk("funding-rates")

    def ours():
        return lighter.parse_order_book_details(obd, rates, observed_at=OBSERVED_AT)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.lighter(), [str(m["market_id"]) for m in obd_f["order_book_details"]])

        def theirs():
            data = ex.safe_list(rates_f, "funding_rates", [])
            rates = ex.parse_funding_rates([d for d in data if ex.safe_string(d, "exchange") == "lighter"])
            return rates, ex.parse_tickers(ex.safe_list(obd_f, "order_book_details", []))

    return Case("lighter", len(obd["order_book_details"]), ours, theirs, "parse_funding_rates + parse_tickers")


def case_pacifica(n: int, ccxt) -> Case:
    """ccxt reads info/prices; we also read /info (instrument type, base asset)."""
    from funding_pipeline.lib.exchanges import pacifica

    p = Payloads("pacifica", "info_prices", n, lambda b: b["data"])
    (prices, prices_f), (info, _) = p.bulk("info_prices"), p.bulk("info")

    def ours():
        return pacifica.parse_prices(prices, observed_at=OBSERVED_AT, info=pacifica.parse_info(info))

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.pacifica(), [e["symbol"] for e in prices_f["data"]])

        def theirs():
            return ex.parse_funding_rates(prices_f["data"])

    return Case("pacifica", len(prices["data"]), ours, theirs, "parse_funding_rates")


def case_orderly(n: int, ccxt) -> Case:
    """ccxt's Orderly-based exchange is `woofipro`; it reads /v1/public/funding_rates."""
    from funding_pipeline.lib.exchanges import orderly

    p = Payloads("orderly", "futures", n, lambda b: b["data"]["rows"])
    (fut, _), (fr, fr_f) = p.bulk("futures"), p.bulk("funding_rates")

    def ours():
        return orderly.parse_futures(fut, observed_at=OBSERVED_AT, funding_rates=fr)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.woofipro(), [e["symbol"] for e in fr_f["data"]["rows"]])

        def theirs():
            return ex.parse_funding_rates(fr_f["data"]["rows"])

    return Case("orderly", len(fut["data"]["rows"]), ours, theirs, "parse_funding_rates (woofipro)")


def case_grvt(n: int, ccxt) -> Case:
    """No funding-rate fetch in ccxt; its fetch_ticker parses the same per-market answer."""
    from funding_pipeline.lib.exchanges import grvt

    p = Payloads("grvt", "all_instruments", n, lambda b: b["result"])
    (inst, _), tickers = p.bulk("all_instruments"), p.per_market("ticker_")

    def ours():
        perps, _ = grvt.parse_all_instruments(inst)
        by_name = {m["instrument"]: m for m in perps}
        answers = {t["result"]["instrument"]: t for t, _ in tickers}
        return grvt.parse_tickers({k: answers[k] for k in by_name}, by_name, observed_at=OBSERVED_AT)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.grvt(), [t["result"]["instrument"] for _, t in tickers])

        def theirs():
            return [
                ex.parse_ticker(ex.safe_dict(t, "result", {}), ex.market(t["result"]["instrument"] + "/USD:USD"))
                for _, t in tickers
            ]

    return Case("grvt", len(tickers), ours, theirs, "parse_ticker")


def case_hibachi(n: int, ccxt) -> Case:
    """ccxt's fetch_ticker parses prices + stats (its fetch_funding_rate has no parse function)."""
    from funding_pipeline.lib.exchanges import hibachi

    p = Payloads("hibachi", "exchange-info", n, lambda b: [c for c in b["futureContracts"] if c["status"] == "LIVE"])
    info, _ = p.bulk("exchange-info")
    per = {kind: {d["symbol"]: (d, f) for d, f in p.per_market(kind)} for kind in ("prices_", "stats_")}
    oi = {}
    for path in sorted((RECORDINGS / "hibachi").glob("open-interest_*.00.json")):
        doc = json.loads(path.read_text())
        for k in range(p.copies):
            tagged = tag_tree(doc, k)
            text = json.dumps(tagged["response"]["json"])
            oi[tagged["request"]["params"]["symbol"]] = json.loads(text, parse_float=str)

    # What poll's gather returns: the answers of each LIVE contract, in PER_MARKET order.
    answers = [
        answer
        for c in hibachi.parse_exchange_info(info)[0]
        for answer in (per["prices_"][c["symbol"]][0], per["stats_"][c["symbol"]][0], oi[c["symbol"]])
    ]

    def ours():
        live, _ = hibachi.parse_exchange_info(info)
        return hibachi.parse_market_data(live, answers, observed_at=OBSERVED_AT)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.hibachi(), list(per["prices_"]))

        def theirs():
            return [
                ex.parse_ticker({"prices": pf, "stats": per["stats_"][sym][1]}, ex.market(sym + "/USD:USD"))
                for sym, (_, pf) in per["prices_"].items()
            ]

    return Case("hibachi", len(per["prices_"]), ours, theirs, "parse_ticker (prices+stats)")


def case_extended(n: int, ccxt) -> Case:
    """ccxt fetch_tickers parses each market's marketStats from the same /info/markets."""
    from funding_pipeline.lib.exchanges import extended

    p = Payloads("extended", "info_markets", n, lambda b: b["data"])
    mk, mk_f = p.bulk("info_markets")

    def ours():
        return extended.parse_markets(mk, observed_at=OBSERVED_AT)

    theirs = None
    if ccxt:
        ex = with_markets(ccxt.extended(), [m["name"] for m in mk_f["data"]])

        def theirs():
            out = {}
            for m in ex.safe_list(mk_f, "data", []):
                ticker = ex.parse_ticker(ex.safe_dict(m, "marketStats", {}), ex.safe_market(ex.safe_string(m, "name")))
                out[ticker["symbol"]] = ticker
            return out

    return Case("extended", len(mk["data"]), ours, theirs, "parse_ticker")


# No ccxt parser for these payloads (dYdX: ccxt has neither a funding-rate nor a ticker fetch;
# the others are not in ccxt): ours only, for throughput.


def case_dydx(n: int, ccxt) -> Case:
    from funding_pipeline.lib.exchanges import dydx

    markets, _ = Payloads("dydx", "perpetualMarkets", n, lambda b: list(b["markets"])).bulk("perpetualMarkets")
    return Case("dydx", len(markets["markets"]), lambda: dydx.parse_perpetual_markets(markets, observed_at=OBSERVED_AT))


def case_edgex(n: int, ccxt) -> Case:
    from funding_pipeline.lib.exchanges import edgex

    p = Payloads("edgex", "getTicker", n, lambda b: b["data"])
    (tick, _), (latest, _) = p.bulk("getTicker"), p.bulk("getLatestFundingRate")

    def ours():
        return edgex.parse_ticker(tick, observed_at=OBSERVED_AT, funding=edgex.parse_latest_funding_rate(latest))

    return Case("edgex", len(tick["data"]), ours)


def case_variational(n: int, ccxt) -> Case:
    from funding_pipeline.lib.exchanges import variational

    stats, _ = Payloads("variational", "metadata_stats", n, lambda b: b["listings"]).bulk("metadata_stats")
    return Case(
        "variational", len(stats["listings"]), lambda: variational.parse_metadata_stats(stats, observed_at=OBSERVED_AT)
    )


def case_ethereal(n: int, ccxt) -> Case:
    from funding_pipeline.lib.exchanges import ethereal

    p = Payloads("ethereal", "product", n, lambda b: b["data"])
    (products, _), (prices, _) = p.bulk("product"), p.bulk("market-price")
    return Case(
        "ethereal", len(products["data"]), lambda: ethereal.parse_products(products, prices, observed_at=OBSERVED_AT)
    )


CASES = (
    case_binance,
    case_aster,
    case_bybit,
    case_okx,
    case_hyperliquid,
    case_paradex,
    case_lighter,
    case_pacifica,
    case_orderly,
    case_grvt,
    case_hibachi,
    case_extended,
    case_dydx,
    case_edgex,
    case_variational,
    case_ethereal,
)


def cpu(fn: Callable[[], object]) -> float:
    gc.collect()
    started = time.process_time()
    fn()
    return time.process_time() - started


def rows_of(result) -> int:
    rows = getattr(result, "rows", None)
    return len(rows) if rows is not None else len(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=1000, help="markets per venue payload (approx.)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", metavar="VENUE", help="cProfile our parser for one venue and exit")
    parser.add_argument("--venues", help="comma-separated venues to run (default: all)")
    args = parser.parse_args()
    try:
        import ccxt
    except ImportError:
        ccxt = None
    if ccxt is None and not args.profile:
        print('ccxt is not installed; it is an optional benchmark extra:\n    pip install -e ".[bench]"')
        return
    wanted = set(args.venues.split(",")) if args.venues else None
    cases = [make(args.markets, ccxt) for make in CASES if wanted is None or make.__name__[5:] in wanted]
    if args.profile:
        case = next(c for c in cases if c.venue == args.profile)
        prof = cProfile.Profile()
        prof.runcall(lambda: [case.ours() for _ in range(args.rounds)])
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(20)
        print(out.getvalue())
        return

    print(f"ccxt {ccxt.__version__}; median process CPU of {args.rounds} alternating rounds per side\n")
    print(f"{'venue':<12} {'markets':>7} {'rows':>6} {'ours mk/s':>10} {'ccxt mk/s':>10} {'speedup':>8}  ccxt parser")
    ratios = []
    for case in cases:
        ours_rows = rows_of(case.ours())
        if case.ccxt is not None:
            case.ccxt()  # warm caches on both sides before timing
        ours_t, theirs_t = [], []
        for r in range(args.rounds):
            if case.ccxt is not None and r % 2:
                theirs_t.append(cpu(case.ccxt))
            ours_t.append(cpu(case.ours))
            if case.ccxt is not None and not r % 2:
                theirs_t.append(cpu(case.ccxt))
        ours_rate = case.markets / statistics.median(ours_t)
        if case.ccxt is None:
            print(
                f"{case.venue:<12} {case.markets:>7} {ours_rows:>6} {ours_rate:>10,.0f} {'-':>10} {'-':>8}  "
                "(no ccxt parser for this payload)"
            )
            continue
        theirs_rate = case.markets / statistics.median(theirs_t)
        ratio = statistics.median(t / o for t, o in zip(theirs_t, ours_t, strict=True))  # paired: same moment
        ratios.append((case.venue, ratio))
        print(
            f"{case.venue:<12} {case.markets:>7} {ours_rows:>6} {ours_rate:>10,.0f} {theirs_rate:>10,.0f} "
            f"{ratio:>7.2f}x  {case.ccxt_what}"
        )
    worst = min(ratios, key=lambda vr: vr[1])
    geo = math.exp(statistics.mean(math.log(r) for _, r in ratios))
    print(
        f"\nspeedup over ccxt: geometric mean {geo:.2f}x, lowest {worst[1]:.2f}x ({worst[0]}); target >= {TARGET:.0f}x "
        f"-> {sum(r >= TARGET for _, r in ratios)}/{len(ratios)} venues meet it"
    )


if __name__ == "__main__":
    main()
