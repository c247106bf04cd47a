"""Deterministic synthetic input data (CONTRACT §2) with reasons behind the numbers.

Every account gets a hidden profile — a trajectory (growing, stable, declining,
churned, new), a health factor, a service-problem factor and a payment habit —
and every source is drawn from that profile, so the scores the pipeline computes
differ for reasons a reader can recover: churned accounts stop ordering, accounts
with service problems complain more and answer surveys worse, late payers get
lower credit ratings, good managers get better accounts and better 360 feedback.

Everything is vectorised with NumPy (no Python loop per order, line or event) and
written with polars, so ten million order lines are a matter of seconds. All
randomness comes from one `numpy.random.default_rng(seed)` consumed in a fixed
order: the same arguments give byte-identical files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from kam_pipeline.ingest.contract import (
    COMPLAINT_SEVERITIES,
    ORDER_STATUSES,
    REVIEWER_ROLES,
    SOURCES,
)

SEGMENTS = ("multinational", "domestic_large", "regional")
INDUSTRIES = ("manufacturing", "retail", "healthcare", "energy", "logistics", "technology")
REGIONS = ("east", "north", "south", "west")
TRAJECTORIES = ("growing", "stable", "declining", "churned", "new")
PRODUCT_CATEGORIES = (
    "components",
    "assemblies",
    "consumables",
    "equipment",
    "software",
    "services",
    "spare_parts",
    "packaging",
)
COMPLAINT_CATEGORIES = ("delivery", "product_quality", "billing", "service", "documentation")
ASSESSMENT_DIMENSIONS = (
    "industry_position",
    "cooperation_willingness",
    "credit_risk",
    "strategic_importance",
    "innovation_cooperation",
    "social_responsibility",
)
COMPETENCIES = ("communication", "negotiation", "product_knowledge", "planning", "customer_focus")
PAYER_TYPES = ("prompt", "late", "bad")
# Default SLA per severity in hours (INDICATORS.md), in COMPLAINT_SEVERITIES order.
SLA_HOURS = (240, 120, 72, 24)

# Segment parameters, in SEGMENTS order: share of accounts, median orders a year,
# median order-line value, mean number of product categories bought, share on 60-day terms.
_SEGMENT_SHARE = (0.20, 0.35, 0.45)
_SEGMENT_ORDERS_PER_YEAR = (90.0, 60.0, 30.0)
_SEGMENT_LINE_VALUE = (9000.0, 4500.0, 1800.0)
_SEGMENT_BREADTH = (6.0, 4.8, 3.5)
_SEGMENT_TERMS_60 = (0.7, 0.4, 0.2)

_INDUSTRY_SHARE = (0.30, 0.15, 0.15, 0.15, 0.15, 0.10)
_INDUSTRY_MARKET_GROWTH = (0.03, 0.02, 0.09, 0.05, 0.04, 0.11)
_REGION_MARKET_GROWTH = (0.02, -0.01, 0.02, 0.01)

# Trajectory shares (TRAJECTORIES order), yearly order-rate trend ranges and the
# health each trajectory lends an account.
_TRAJECTORY_SHARE = (0.25, 0.40, 0.15, 0.10, 0.10)
_TRAJECTORY_HEALTH = (0.8, 0.2, -0.5, -1.0, 0.3)

# Unit list price and typical gross margin per product category.
_CATEGORY_PRICE = (45.0, 380.0, 12.0, 4200.0, 1500.0, 950.0, 85.0, 6.0)
_CATEGORY_MARGIN = (0.25, 0.30, 0.35, 0.20, 0.42, 0.38, 0.40, 0.18)

# Order volume by calendar month (Jan..Dec): Chinese New Year dip in February,
# a Q4 peak as customers spend their budgets.
_SEASONALITY = np.array([1.0, 0.65, 1.0, 1.0, 1.0, 1.05, 0.95, 0.95, 1.05, 1.05, 1.15, 1.25])
_SEASONALITY = _SEASONALITY / _SEASONALITY.mean()

_SEVERITY_SHARE = (0.45, 0.32, 0.17, 0.06)
_SEVERITY_MEDIAN_HOURS = (100.0, 60.0, 36.0, 10.0)
_COMPLAINT_CATEGORY_SHARE = (0.30, 0.25, 0.15, 0.20, 0.10)

# 360 reviewers per manager and year: (role, how many reviewers, rating bias).
_REVIEWERS = (
    ("self", 1, 0.45),
    ("supervisor", 1, -0.1),
    ("peer", 2, 0.05),
    ("subordinate", 2, 0.15),
    ("customer", 3, 0.0),
)

_CN_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_CN_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建文辉国"
_EN_FIRST = (
    "James",
    "Mary",
    "Robert",
    "Linda",
    "Michael",
    "Sarah",
    "David",
    "Laura",
    "Daniel",
    "Emma",
    "Thomas",
    "Olivia",
    "Mark",
    "Sophie",
    "Paul",
    "Anna",
    "Peter",
    "Julia",
    "Andrew",
    "Claire",
    "Lukas",
    "Marie",
    "Jonas",
    "Elena",
    "Kenji",
    "Yuki",
    "Rahul",
    "Priya",
    "Carlos",
    "Lucia",
)
_EN_LAST = (
    "Smith",
    "Johnson",
    "Brown",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Martin",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "Müller",
    "Schmidt",
    "Weber",
    "Fischer",
    "Rossi",
    "Bianchi",
    "Dubois",
    "Laurent",
    "Tanaka",
    "Sato",
    "Sharma",
    "Patel",
    "Garcia",
    "Lopez",
)
_CN_PLACES = (
    "华东",
    "华北",
    "华南",
    "西南",
    "上海",
    "北京",
    "深圳",
    "广州",
    "杭州",
    "苏州",
    "成都",
    "武汉",
    "天津",
    "南京",
    "重庆",
    "青岛",
    "宁波",
    "厦门",
    "西安",
    "长沙",
)
_CN_CORES = (
    "精密",
    "恒通",
    "瑞丰",
    "鼎盛",
    "华信",
    "永兴",
    "中科",
    "远航",
    "新材",
    "宏达",
    "博远",
    "天成",
    "金桥",
    "安泰",
    "长城",
    "海川",
    "东方",
    "联创",
    "卓越",
    "万达",
)
_CN_TRADES = ("制造", "商贸", "医药", "能源", "物流", "科技")  # INDUSTRIES order
_CN_FORMS = ("有限公司", "股份有限公司")
_EN_PREFIXES = (
    "Northwind",
    "Bluepeak",
    "Silverline",
    "Crestview",
    "Ironbridge",
    "Summit",
    "Harbor",
    "Evergreen",
    "Pioneer",
    "Atlas",
    "Keystone",
    "Redwood",
    "Meridian",
    "Orion",
    "Vantage",
    "Granite",
)
_EN_TRADES = (  # INDUSTRIES order
    ("Precision", "Industrial", "Machining", "Components"),
    ("Retail", "Stores", "Trading", "Commerce"),
    ("Health", "Medical", "Pharma", "Biotech"),
    ("Energy", "Power", "Renewables", "Utilities"),
    ("Logistics", "Freight", "Shipping", "Transport"),
    ("Systems", "Digital", "Software", "Networks"),
)
_EN_FORMS = ("Ltd", "Inc", "GmbH", "AG", "Group", "plc", "S.A.", "Holdings")

_DAILY_FILE = re.compile(r"^orders_\d{4}-\d{2}-\d{2}\.csv$")
_EPOCH = date(1970, 1, 1)
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class _Calendar:
    """The covered date range as epoch days (days since 1970-01-01), inclusive."""

    start: int
    end: int

    @property
    def years(self) -> np.ndarray:
        return np.arange(_year_of(np.array([self.start]))[0], _year_of(np.array([self.end]))[0] + 1)

    def months(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (first day, last day, month number 1–12) of every month overlapping the range."""
        first = np.datetime64(self.start, "D").astype("datetime64[M]")
        last = np.datetime64(self.end, "D").astype("datetime64[M]")
        months = np.arange(first, last + 1)
        lo = np.maximum(months.astype("datetime64[D]").astype(np.int64), self.start)
        hi = np.minimum((months + 1).astype("datetime64[D]").astype(np.int64) - 1, self.end)
        return lo, hi, months.astype(np.int64) % 12 + 1


@dataclass(frozen=True)
class _Managers:
    manager_id: np.ndarray
    name: np.ndarray
    team: np.ndarray  # team index per manager
    team_region: np.ndarray  # region index per team
    team_name: np.ndarray  # per team
    quality: np.ndarray  # latent skill, N(0, 1)


@dataclass(frozen=True)
class _Accounts:
    """Observable attributes and the hidden profile of every account (arrays of equal length)."""

    account_id: np.ndarray
    name: np.ndarray
    segment: np.ndarray
    industry: np.ndarray
    region: np.ndarray
    manager: np.ndarray
    since: np.ndarray  # epoch day
    trajectory: np.ndarray
    health: np.ndarray
    service_problem: np.ndarray
    payer: np.ndarray
    active_lo: np.ndarray  # first and last epoch day the account can order (lo > hi: never)
    active_hi: np.ndarray
    trend: np.ndarray  # yearly growth of the order rate
    orders_per_year: np.ndarray  # at the end date, before seasonality
    line_mu: np.ndarray  # log of the median line value
    lines_p: np.ndarray  # lines per order = 1 + Binomial(4, p)
    category_cdf: np.ndarray  # (accounts, categories) cumulative product mix
    price_factor: np.ndarray
    margin_adj: np.ndarray
    terms: np.ndarray  # payment terms in days
    share_of_wallet: np.ndarray
    market_growth: np.ndarray  # (industries, regions) yearly growth of the account's market


def generate_dataset(
    out_dir: Path,
    accounts: int = 60,
    days: int = 730,
    seed: int = 7,
    end: date | None = None,
    daily_files: int = 7,
) -> dict[str, int]:
    """Write one synthetic data set as CSV files into `out_dir`; return rows written per source.

    Data covers [end − days + 1, end] (`end` defaults to yesterday). Orders before the
    last `daily_files` days go to `orders.csv`, each of those days to
    `orders_<YYYY-MM-DD>.csv` (written even when a day has no orders); every other
    source to `<source>.csv`. Daily order files left in `out_dir` by an earlier run
    are removed so they cannot overlap the new range. Order lines scale with
    accounts × days, about 220 lines per account over 730 days: ~13k for 60
    accounts, ~1M for 4,600, ~10M for 46,000. Amounts have 2 decimals; returned
    lines carry the positive amount of the goods returned.
    """
    if accounts < 1 or days < 1 or not 0 <= daily_files <= days:
        raise ValueError("need accounts >= 1, days >= 1 and 0 <= daily_files <= days")
    end = end or date.today() - timedelta(days=1)
    cal = _Calendar(start=_epoch_day(end) - days + 1, end=_epoch_day(end))
    rng = np.random.default_rng(seed)
    managers = _make_managers(rng, max(2, round(accounts / 6)))
    accts = _make_accounts(rng, accounts, managers, cal)
    lines = _make_order_lines(rng, accts, cal)
    frames = {
        "managers": _managers_frame(managers),
        "accounts": _accounts_frame(accts, managers),
        "surveys": _make_surveys(rng, accts),
        "complaints": _make_complaints(rng, accts, lines["order_account"], cal),
        "assessments": _make_assessments(rng, accts, cal),
        "feedback": _make_feedback(rng, managers, cal),
        "invoices": _make_invoices(rng, accts, lines, cal),
        "wallet": _make_wallet(rng, accts, lines, cal),
    }
    frames["market"] = _make_market(rng, accts, frames["wallet"])
    # Its own random stream, so adding the source left every other one as it was.
    frames["acquisition"] = _make_acquisition(np.random.default_rng([seed, 1]), accts, cal)
    orders = _orders_frame(lines, accts)
    del lines

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in sorted(out_dir.iterdir()):
        if _DAILY_FILE.match(stale.name):
            stale.unlink()
    counts: dict[str, int] = {}
    for source, frame in frames.items():
        _write(frame.select(SOURCES[source].column_names), out_dir / f"{source}.csv")
        counts[source] = frame.height
    counts["orders"] = _write_orders(orders, out_dir, cal, daily_files)
    return {source: counts[source] for source in SOURCES}


def account_profiles(accounts: int = 60, days: int = 730, seed: int = 7, end: date | None = None) -> pl.DataFrame:
    """Return the hidden profile behind `generate_dataset` with the same arguments.

    One row per account: account_id, trajectory, health (higher = better),
    service_problem (higher = more complaints, worse surveys), payer_type,
    share_of_wallet and trend (yearly growth of the order rate). Meant for tests
    and for checking that scores follow the causes planted in the data.
    """
    end = end or date.today() - timedelta(days=1)
    cal = _Calendar(start=_epoch_day(end) - days + 1, end=_epoch_day(end))
    rng = np.random.default_rng(seed)
    managers = _make_managers(rng, max(2, round(accounts / 6)))
    a = _make_accounts(rng, accounts, managers, cal)
    return pl.DataFrame(
        {
            "account_id": a.account_id,
            "trajectory": _take(TRAJECTORIES, a.trajectory),
            "health": a.health,
            "service_problem": a.service_problem,
            "payer_type": _take(PAYER_TYPES, a.payer),
            "share_of_wallet": a.share_of_wallet,
            "trend": a.trend,
        }
    )


# ---------------------------------------------------------------- helpers


def _epoch_day(d: date) -> int:
    return (d - _EPOCH).days


def _year_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _year_start(years: np.ndarray) -> np.ndarray:
    return (np.asarray(years) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def _years_back(days: np.ndarray, cal: _Calendar) -> np.ndarray:
    """Return (day − end) in years, floored at −2: trajectories are the last two years' story."""
    return np.maximum((days - cal.end) / 365.25, -2.0)


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """Return `prefix` + zero-padded 1..n, at least `width` digits."""
    width = max(width, len(str(n)))
    return pl.select(
        pl.format(f"{prefix}{{}}", pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width))
    ).to_series()


def _id_array(prefix: str, n: int, width: int) -> np.ndarray:
    """Return `_ids(...)` as a NumPy string array, for the small tables that are indexed."""
    return _ids(prefix, n, width).to_numpy().astype(str)


def _quota(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """Return n category indices whose counts match `shares` (largest remainder), shuffled."""
    return rng.permutation(np.repeat(np.arange(len(shares)), _split(n, np.asarray(shares))))


def _choice(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    cdf = np.cumsum(shares) / sum(shares)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right")


def _scores(latent: np.ndarray, low: int = 1, high: int = 5) -> np.ndarray:
    return np.clip(np.rint(latent), low, high).astype(np.int64)


def _dedupe(names: list[str]) -> list[str]:
    """Append ' 2', ' 3', … to repeated names so every name is unique."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0) + 1
        seen[name] = k
        out.append(name if k == 1 else f"{name} {k}")
    return out


def _take(values: np.ndarray | tuple[str, ...], index: np.ndarray) -> pl.Series:
    """Return values[index] as a polars string column (much faster than NumPy strings)."""
    return pl.Series(np.asarray(values, dtype=str)).gather(np.asarray(index, dtype=np.int64))


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def _write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_csv(
        path,
        date_format="%Y-%m-%d",
        datetime_format="%Y-%m-%dT%H:%M:%S",
        float_precision=2,
        null_value="",
    )


# ---------------------------------------------------------------- managers and accounts


def _make_managers(rng: np.random.Generator, n: int) -> _Managers:
    # Teams of 2–4: start every team at 2 and hand out the rest at random, at most 2 more each.
    n_teams = int(np.clip(round(n / 3), -(-n // 4), n // 2))
    extra = rng.permutation(np.repeat(np.arange(n_teams), 2))[: n - 2 * n_teams]
    sizes = 2 + np.bincount(extra, minlength=n_teams)
    team = rng.permutation(np.repeat(np.arange(n_teams), sizes))
    team_region = _quota(rng, n_teams, (1.0,) * len(REGIONS))
    number_in_region = np.zeros(n_teams, dtype=np.int64)
    for region in range(len(REGIONS)):
        members = np.flatnonzero(team_region == region)
        number_in_region[members] = np.arange(1, len(members) + 1)
    team_name = np.array(
        [f"{REGIONS[r].title()} Key Accounts {k}" for r, k in zip(team_region, number_in_region, strict=True)]
    )
    names = _person_names(rng, n)
    return _Managers(
        manager_id=_id_array("M", n, 3),
        name=np.array(names),
        team=team,
        team_region=team_region,
        team_name=team_name,
        quality=rng.standard_normal(n),
    )


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    chinese = rng.random(n) < 0.4
    n_cn = int(chinese.sum())
    cn_space = len(_CN_SURNAMES) * len(_CN_GIVEN) ** 2
    en_space = len(_EN_FIRST) * len(_EN_LAST)
    cn = rng.choice(cn_space, size=n_cn, replace=n_cn > cn_space)
    en = rng.choice(en_space, size=n - n_cn, replace=n - n_cn > en_space)
    g = len(_CN_GIVEN)
    cn_names = [
        _CN_SURNAMES[k // (g * g)] + _CN_GIVEN[(k // g) % g] + (_CN_GIVEN[k % g] if k % 3 else "") for k in cn.tolist()
    ]
    en_names = [f"{_EN_FIRST[k // len(_EN_LAST)]} {_EN_LAST[k % len(_EN_LAST)]}" for k in en.tolist()]
    out = np.empty(n, dtype=object)
    out[chinese] = cn_names
    out[~chinese] = en_names
    return _dedupe(out.tolist())


def _company_names(rng: np.random.Generator, industry: np.ndarray, segment: np.ndarray) -> list[str]:
    n = len(industry)
    # Regional and domestic firms are more often registered under Chinese names.
    chinese = rng.random(n) < np.array([0.15, 0.45, 0.55])[segment]
    place = rng.integers(0, len(_CN_PLACES), n)
    core = rng.integers(0, len(_CN_CORES), n)
    cn_form = rng.integers(0, len(_CN_FORMS), n)
    prefix = rng.integers(0, len(_EN_PREFIXES), n)
    trade = rng.integers(0, 4, n)
    en_form = rng.integers(0, len(_EN_FORMS), n)
    names = [
        (
            f"{_CN_PLACES[p]}{_CN_CORES[c]}{_CN_TRADES[i]}{_CN_FORMS[f]}"
            if zh
            else f"{_EN_PREFIXES[x]} {_EN_TRADES[i][t]} {_EN_FORMS[e]}"
        )
        for zh, p, c, f, x, t, e, i in zip(
            chinese.tolist(),
            place.tolist(),
            core.tolist(),
            cn_form.tolist(),
            prefix.tolist(),
            trade.tolist(),
            en_form.tolist(),
            industry.tolist(),
            strict=True,
        )
    ]
    return _dedupe(names)


def _make_accounts(rng: np.random.Generator, n: int, managers: _Managers, cal: _Calendar) -> _Accounts:
    n_mgr = len(managers.manager_id)
    manager = rng.permutation(np.arange(n) % n_mgr)
    segment = _quota(rng, n, _SEGMENT_SHARE)
    industry = _choice(rng, n, _INDUSTRY_SHARE)
    # Most accounts sit in their manager's team region.
    region = np.where(
        rng.random(n) < 0.8, managers.team_region[managers.team[manager]], rng.integers(0, len(REGIONS), n)
    )

    # New accounts are picked at random; the rest are ranked by manager skill plus
    # luck, so better managers tend to hold the growing accounts.
    shares = np.array(_TRAJECTORY_SHARE)
    is_new = np.zeros(n, dtype=bool)
    is_new[rng.permutation(n)[: int(round(shares[4] * n))]] = True
    rest = np.flatnonzero(~is_new)
    rank_key = 0.6 * managers.quality[manager[rest]] + rng.standard_normal(len(rest))
    ranked = rest[np.argsort(-rank_key, kind="stable")]
    trajectory = np.full(n, 4)
    trajectory[ranked] = np.repeat(np.arange(4), _split(len(rest), shares[:4]))

    market_growth = _market_growth(rng)
    trend = np.select(
        [trajectory == 0, trajectory == 1, trajectory == 2, trajectory == 3],
        [
            rng.uniform(0.3, 0.7, n),
            np.clip(market_growth[industry, region] + rng.normal(0, 0.04, n), -0.08, 0.15),
            rng.uniform(-0.45, -0.2, n),
            rng.uniform(-0.35, -0.05, n),
        ],
        rng.uniform(0.2, 0.8, n),
    )
    stop_offset = rng.integers(200, 401, n)
    # Established accounts were won before the data starts (0.1–13 years before it);
    # only the "new" ones start inside it, within the last year.
    years_before_start = np.exp(rng.uniform(np.log(0.1), np.log(13.0), n))
    since = np.where(
        trajectory == 4,
        cal.end - rng.integers(45, 331, n),
        cal.start - np.rint(years_before_start * 365.25).astype(np.int64),
    )
    active_lo = np.maximum(since, cal.start)
    active_hi = np.where(trajectory == 3, cal.end - stop_offset, cal.end)

    health = np.array(_TRAJECTORY_HEALTH)[trajectory] + 0.3 * managers.quality[manager]
    health += rng.normal(0, 0.4, n)
    service_problem = -0.5 * health + rng.normal(0, 0.8, n)
    risk = -health + rng.normal(0, 0.8, n)
    payer = np.where(risk > 1.3, 2, np.where(risk > 0.4, 1, 0))

    orders_per_year = np.array(_SEGMENT_ORDERS_PER_YEAR)[segment] * np.exp(rng.normal(0, 0.45, n))
    line_mu = np.log(np.array(_SEGMENT_LINE_VALUE)[segment]) + rng.normal(0, 0.5, n)
    lines_p = rng.uniform(0.1, 0.5, n)

    # Product mix: each account buys from `breadth` random categories with random weights.
    n_cat = len(PRODUCT_CATEGORIES)
    breadth = np.clip(np.rint(np.array(_SEGMENT_BREADTH)[segment] + rng.normal(0, 1.3, n)), 2, n_cat)
    rank = np.argsort(np.argsort(rng.random((n, n_cat)), axis=1), axis=1)
    weights = rng.gamma(1.0, size=(n, n_cat)) * (rank < breadth[:, None])
    cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    cdf[:, -1] = 1.0

    return _Accounts(
        account_id=_id_array("A", n, 4),
        name=np.array(_company_names(rng, industry, segment)),
        segment=segment,
        industry=industry,
        region=region,
        manager=manager,
        since=since,
        trajectory=trajectory,
        health=health,
        service_problem=service_problem,
        payer=payer,
        active_lo=active_lo,
        active_hi=active_hi,
        trend=trend,
        orders_per_year=orders_per_year,
        line_mu=line_mu,
        lines_p=lines_p,
        category_cdf=cdf,
        price_factor=np.where(segment == 0, rng.uniform(0.85, 0.95, n), rng.uniform(0.92, 1.0, n)),
        margin_adj=rng.normal(0, 0.05, n),
        terms=np.where(rng.random(n) < np.array(_SEGMENT_TERMS_60)[segment], 60, 30),
        share_of_wallet=rng.uniform(0.1, 0.8, n),
        market_growth=market_growth,
    )


def _split(n: int, shares: np.ndarray) -> np.ndarray:
    """Return counts summing to n in proportion to `shares` (largest remainder)."""
    exact = shares / shares.sum() * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def _market_growth(rng: np.random.Generator) -> np.ndarray:
    """Return the yearly market growth per (industry, region), within −5 % … +15 %."""
    base = np.add.outer(np.array(_INDUSTRY_MARKET_GROWTH), np.array(_REGION_MARKET_GROWTH))
    return np.clip(base + rng.normal(0, 0.02, base.shape), -0.05, 0.15)


def _managers_frame(m: _Managers) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "manager_id": m.manager_id,
            "manager_name": m.name,
            "team_id": _id_array("T", len(m.team_name), 2)[m.team],
            "team_name": m.team_name[m.team],
        }
    )


def _accounts_frame(a: _Accounts, m: _Managers) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": a.account_id,
            "account_name": a.name,
            "segment": _take(SEGMENTS, a.segment),
            "industry": _take(INDUSTRIES, a.industry),
            "region": _take(REGIONS, a.region),
            "manager_id": _take(m.manager_id, a.manager),
            "since": _dates(a.since),
        }
    )


# ---------------------------------------------------------------- orders


def _make_order_lines(rng: np.random.Generator, a: _Accounts, cal: _Calendar) -> dict[str, np.ndarray]:
    """Draw orders (Poisson per account and month) and their lines; return column arrays.

    Keys: order_day, order_account (per order, sorted by day then account), and per
    line: line_order, line_no, category, quantity, net, cost (NaN = missing), status.
    """
    month_lo, month_hi, month_no = cal.months()
    lo = np.maximum(month_lo[None, :], a.active_lo[:, None])
    hi = np.minimum(month_hi[None, :], a.active_hi[:, None])
    length = np.clip(hi - lo + 1, 0, None)
    trend = np.exp(np.log1p(a.trend)[:, None] * _years_back((lo + hi) / 2, cal))
    rate = a.orders_per_year[:, None] / 365.25 * length * _SEASONALITY[month_no - 1][None, :] * trend
    per_cell = rng.poisson(rate).ravel()

    cell = np.repeat(np.arange(per_cell.size), per_cell)
    del per_cell, rate, trend
    n_months = len(month_no)
    account = cell // n_months
    cell_lo = lo.ravel()[cell]
    cell_hi = hi.ravel()[cell]
    del cell
    day = cell_lo + (rng.random(account.size) * (cell_hi - cell_lo + 1)).astype(np.int64)
    # B2B customers order on working days: redraw most weekend days (up to three
    # times) within the same account-month, so about 5 % of orders fall on weekends.
    move = rng.random(day.size) < 0.9
    for _ in range(3):
        redraw = move & ((day + 3) % 7 >= 5)  # 1970-01-01 was a Thursday; 5, 6 = Sat, Sun
        again = cell_lo + (rng.random(day.size) * (cell_hi - cell_lo + 1)).astype(np.int64)
        day = np.where(redraw, again, day)
    del cell_lo, cell_hi, move, redraw, again
    order = np.lexsort((account, day))
    day, account = day[order], account[order]
    del order

    n_lines = 1 + rng.binomial(4, a.lines_p[account])
    line_order = np.repeat(np.arange(account.size), n_lines)
    first_line = np.cumsum(n_lines) - n_lines
    line_no = np.arange(line_order.size) - first_line[line_order] + 1
    line_account = account[line_order]

    # Category per line from the account's own mix: offsetting each account's CDF by
    # its index makes one sorted array, so a single searchsorted serves every account.
    n_cat = len(PRODUCT_CATEGORIES)
    flat_cdf = (a.category_cdf + np.arange(len(a.account_id))[:, None]).ravel()
    category = np.searchsorted(flat_cdf, line_account + rng.random(line_order.size), side="right")
    category = (category - line_account * n_cat).astype(np.int64)
    np.clip(category, 0, n_cat - 1, out=category)

    value = np.exp(a.line_mu[line_account] + 0.7 * rng.standard_normal(line_order.size))
    unit_price = np.array(_CATEGORY_PRICE)[category] * a.price_factor[line_account]
    unit_price *= np.exp(0.08 * rng.standard_normal(line_order.size))
    quantity = np.maximum(1.0, np.rint(value / unit_price))
    del value
    net = np.round(quantity * unit_price, 2)
    del unit_price
    margin = np.array(_CATEGORY_MARGIN)[category] + a.margin_adj[line_account]
    margin = np.clip(margin + 0.03 * rng.standard_normal(line_order.size), 0.15, 0.45)
    cost = np.round(net * (1.0 - margin), 2)
    cost[rng.random(line_order.size) < 0.03] = np.nan
    del margin

    # Cancellation is a whole-order event, returns hit single lines.
    cancelled = (rng.random(account.size) < 0.03)[line_order]
    returned = ~cancelled & (rng.random(line_order.size) < 0.031)
    status = np.where(cancelled, 1, np.where(returned, 2, 0)).astype(np.int8)
    return {
        "order_day": day,
        "order_account": account,
        "line_order": line_order,
        "line_no": line_no,
        "line_account": line_account,
        "category": category,
        "quantity": quantity,
        "net": net,
        "cost": cost,
        "status": status,
    }


def _orders_frame(lines: dict[str, np.ndarray], a: _Accounts) -> pl.DataFrame:
    order_number = pl.Series(lines["line_order"] + 1).cast(pl.String)
    width = max(7, len(str(lines["order_day"].size)))
    return pl.DataFrame(
        {
            "order_id": pl.select(pl.format("O{}", pl.lit(order_number).str.zfill(width))).to_series(),
            "line_no": lines["line_no"],
            "account_id": _take(a.account_id, lines["line_account"]),
            "order_date": _dates(lines["order_day"][lines["line_order"]]),
            "product_category": _take(PRODUCT_CATEGORIES, lines["category"]),
            "quantity": lines["quantity"].astype(np.int64),
            "net_amount": lines["net"],
            "cost_amount": pl.Series(lines["cost"], nan_to_null=True),
            "status": _take(ORDER_STATUSES, lines["status"]),
        }
    )


def _write_orders(orders: pl.DataFrame, out_dir: Path, cal: _Calendar, daily_files: int) -> int:
    """Write history to orders.csv and each of the last `daily_files` days to its own file."""
    columns = SOURCES["orders"].column_names
    first_daily = cal.end - daily_files + 1
    # Lines are sorted by order_date, so each file is a contiguous slice.
    day = orders["order_date"].cast(pl.Int32).to_numpy()
    bounds = np.searchsorted(day, np.arange(first_daily, cal.end + 2), side="left")
    _write(orders.slice(0, int(bounds[0])).select(columns), out_dir / "orders.csv")
    for k in range(daily_files):
        name = f"orders_{(_EPOCH + timedelta(days=first_daily + k)).isoformat()}.csv"
        part = orders.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k]))
        _write(part.select(columns), out_dir / name)
    return orders.height


# ---------------------------------------------------------------- surveys and complaints


def _random_days(rng: np.random.Generator, a: _Accounts, account: np.ndarray) -> np.ndarray:
    """Return one uniformly drawn active day per entry of `account`."""
    lo = a.active_lo[account]
    return lo + (rng.random(account.size) * (a.active_hi[account] - lo + 1)).astype(np.int64)


def _active_days(a: _Accounts) -> np.ndarray:
    return np.clip(a.active_hi - a.active_lo + 1, 0, None)


def _make_surveys(rng: np.random.Generator, a: _Accounts) -> pl.DataFrame:
    per_account = rng.poisson(2.5 * _active_days(a) / 365.25)
    account = np.repeat(np.arange(per_account.size), per_account)
    day = _random_days(rng, a, account)
    order = np.lexsort((account, day))
    account, day = account[order], day[order]
    n = account.size
    # One latent satisfaction per response: healthy accounts are happier, accounts
    # with service problems (the ones that complain) are less so.
    latent = 3.7 + 0.45 * a.health[account] - 0.5 * a.service_problem[account] + rng.normal(0, 0.45, n)
    s = a.service_problem[account]
    columns = {
        "overall": latent + rng.normal(0, 0.35, n),
        "product_quality": latent + 0.1 + rng.normal(0, 0.6, n),
        "service_quality": latent - 0.2 * s + rng.normal(0, 0.6, n),
        "price_value": latent - 0.3 + rng.normal(0, 0.6, n),
        "responsiveness": latent - 0.3 * s + rng.normal(0, 0.6, n),
    }
    frame = {
        "response_id": _ids("R", n, 6),
        "account_id": _take(a.account_id, account),
        "responded_on": _dates(day),
    }
    for name, values in columns.items():
        frame[name] = pl.Series(name, _scores(values)).scatter(np.flatnonzero(rng.random(n) < 0.04), None)
    recommend = _scores(2.6 * (latent - 1.0) + rng.normal(0, 1.2, n), 0, 10)
    frame["recommend"] = pl.Series("recommend", recommend).scatter(np.flatnonzero(rng.random(n) < 0.08), None)
    return pl.DataFrame(frame)


def _make_complaints(rng: np.random.Generator, a: _Accounts, order_account: np.ndarray, cal: _Calendar) -> pl.DataFrame:
    orders = np.bincount(order_account, minlength=a.account_id.size)
    per_account = rng.poisson(orders * 0.03 * np.exp(0.75 * a.service_problem))
    account = np.repeat(np.arange(per_account.size), per_account)
    n = account.size
    day = _random_days(rng, a, account)
    opened = day * _SECONDS_PER_DAY + 8 * 3600 + rng.integers(0, 10 * 3600, n)
    severity = _choice(rng, n, _SEVERITY_SHARE)
    hours = np.exp(
        np.log(np.array(_SEVERITY_MEDIAN_HOURS)[severity]) + 0.3 * a.service_problem[account] + rng.normal(0, 0.8, n)
    )
    resolved = opened + np.maximum(900, np.rint(hours * 3600)).astype(np.int64)
    still_open = (resolved > (cal.end + 1) * _SECONDS_PER_DAY - 1) | (rng.random(n) < 0.01)
    category = _choice(rng, n, _COMPLAINT_CATEGORY_SHARE)
    order = np.lexsort((account, opened))
    frame = pl.DataFrame(
        {
            "account_id": _take(a.account_id, account[order]),
            "opened_at": pl.from_epoch(pl.Series(opened[order]), time_unit="s"),
            "resolved_at": pl.from_epoch(pl.Series(resolved[order]), time_unit="s").scatter(
                np.flatnonzero(still_open[order]), None
            ),
            "severity": _take(COMPLAINT_SEVERITIES, severity[order]),
            "category": _take(COMPLAINT_CATEGORIES, category[order]),
        }
    )
    return frame.with_columns(complaint_id=_ids("C", n, 6))


# ---------------------------------------------------------------- wallet and market


def _make_wallet(rng: np.random.Generator, a: _Accounts, lines: dict[str, np.ndarray], cal: _Calendar) -> pl.DataFrame:
    """One row per account and calendar year: the account's whole spend in our categories."""
    years = cal.years
    n, n_years = a.account_id.size, years.size
    year_start = _year_start(years)
    year_end = _year_start(years + 1) - 1
    covered = np.minimum(year_end, cal.end) - np.maximum(year_start, cal.start) + 1
    # Completed revenue per account and year, annualised over the part of the year covered.
    completed = lines["status"] == 0
    line_day = lines["order_day"][lines["line_order"]]
    year_idx = np.searchsorted(year_start, line_day, side="right") - 1
    revenue = np.bincount(
        lines["line_account"][completed] * n_years + year_idx[completed],
        weights=lines["net"][completed],
        minlength=n * n_years,
    ).reshape(n, n_years)
    annualised = revenue * 365.25 / covered[None, :]
    # The wallet follows the account's own business (its trend), not whether it buys from us.
    mean_lines = 1 + 4 * a.lines_p
    expected = a.orders_per_year * mean_lines * np.exp(a.line_mu + 0.7**2 / 2)
    mid_year = (year_start + year_end) / 2
    trend = np.exp(np.log1p(np.clip(a.trend, -0.1, 0.15))[:, None] * _years_back(mid_year[None, :], cal))
    wallet = expected[:, None] * trend / a.share_of_wallet[:, None]
    wallet *= np.exp(rng.normal(0, 0.05, (n, n_years)))
    wallet = np.round(np.maximum(wallet, annualised / 0.85 + 1.0), 2)
    return pl.DataFrame(
        {
            "account_id": np.repeat(a.account_id, n_years),
            "year": np.tile(years, n).astype(np.int32),
            "wallet_amount": wallet.ravel(),
        }
    )


def _make_market(rng: np.random.Generator, a: _Accounts, wallet: pl.DataFrame) -> pl.DataFrame:
    """One row per (industry, region, year): the market our accounts are a small part of."""
    years = np.sort(wallet["year"].unique().to_numpy())
    n_ind, n_reg = len(INDUSTRIES), len(REGIONS)
    growth = a.market_growth
    pair = a.industry * n_reg + a.region
    wallet_by_year = wallet["wallet_amount"].to_numpy().reshape(a.account_id.size, years.size)
    n_pairs = n_ind * n_reg
    ours = np.stack(
        [np.bincount(pair, weights=wallet_by_year[:, y], minlength=n_pairs) for y in range(years.size)], axis=1
    )
    base = np.maximum(ours[:, 0] * rng.uniform(8, 25, n_pairs), 5e7 * np.exp(rng.normal(0, 0.5, n_pairs)))
    size = base[:, None] * (1 + growth.ravel())[:, None] ** np.arange(years.size)[None, :]
    size = np.round(np.maximum(size, 2 * ours), 2)
    return pl.DataFrame(
        {
            "industry": np.repeat(np.array(INDUSTRIES), n_reg * years.size),
            "region": np.tile(np.repeat(np.array(REGIONS), years.size), n_ind),
            "year": np.tile(years, n_ind * n_reg).astype(np.int32),
            "market_size": size.ravel(),
        }
    )


# ---------------------------------------------------------------- assessments and feedback


def _make_assessments(rng: np.random.Generator, a: _Accounts, cal: _Calendar) -> pl.DataFrame:
    """2–3 assessors rate each account at year end, and half of them also at mid-year."""
    n = a.account_id.size
    pool = max(3, n // 15)
    first = rng.integers(0, pool, n)
    gap1 = rng.integers(1, pool, n)
    gap2 = rng.integers(1, pool - 1, n)
    gap2 = np.where(gap2 >= gap1, gap2 + 1, gap2)
    assessors = np.stack([first, (first + gap1) % pool, (first + gap2) % pool], axis=1)
    n_assessors = rng.integers(2, 4, n)
    assessor_bias = rng.normal(0, 0.3, pool)
    mid_year = rng.random(n) < 0.5

    n_dim = len(ASSESSMENT_DIMENSIONS)
    account_dim = rng.normal(0, 0.4, (n, n_dim))
    # Why: credit_risk (5 = safe) reflects payment habit, strategic_importance the
    # segment, industry_position the account's size.
    account_dim[:, 2] += np.array([0.3, -0.8, -1.4])[a.payer]
    account_dim[:, 3] += np.array([0.4, 0.0, -0.3])[a.segment]
    size = a.line_mu + np.log(a.orders_per_year)
    account_dim[:, 0] += 0.4 * (size - size.mean()) / (size.std() + 1e-9)

    sessions = []
    for year in cal.years.tolist():
        for month, day0, every in ((6, 20, False), (12, 1, True)):
            day = _epoch_day(date(year, month, day0)) + rng.integers(0, 21, n)
            keep = (day >= np.maximum(a.since, cal.start)) & (day <= cal.end) & (every | mid_year)
            sessions.append((np.flatnonzero(keep), day[keep]))
    account = np.concatenate([s[0] for s in sessions])
    day = np.concatenate([s[1] for s in sessions])
    # Expand: session × assessor slot (keep slot < n_assessors) × dimension.
    slot = np.tile(np.arange(3), account.size)
    account3 = np.repeat(account, 3)
    day3 = np.repeat(day, 3)
    keep = slot < n_assessors[account3]
    account3, day3, assessor = account3[keep], day3[keep], assessors[account3[keep], slot[keep]]
    rows = account3.size * n_dim
    account6 = np.repeat(account3, n_dim)
    dim = np.tile(np.arange(n_dim), account3.size)
    assessor6 = np.repeat(assessor, n_dim)
    latent = 3.1 + 0.8 * a.health[account6] + account_dim[account6, dim] + assessor_bias[assessor6]
    score = _scores(latent + rng.normal(0, 0.45, rows))
    frame = pl.DataFrame(
        {
            "account_id": _take(a.account_id, account6),
            "assessed_on": _dates(np.repeat(day3, n_dim)),
            "assessor": _take(_id_array("E", pool, 2), assessor6),
            "dimension": _take(ASSESSMENT_DIMENSIONS, dim),
            "score": score,
        }
    )
    return frame.sort(["assessed_on", "account_id", "assessor"], maintain_order=True)


def _make_feedback(rng: np.random.Generator, m: _Managers, cal: _Calendar) -> pl.DataFrame:
    """A yearly 360 review per manager in early December: 9 reviewers × 5 competencies."""
    n = m.manager_id.size
    n_comp = len(COMPETENCIES)
    manager_comp = rng.normal(0, 0.3, (n, n_comp))
    roles = np.repeat(np.arange(len(_REVIEWERS)), [count for _, count, _ in _REVIEWERS])
    role_bias = np.array([bias for _, _, bias in _REVIEWERS])
    role_index = np.array([REVIEWER_ROLES.index(role) for role, _, _ in _REVIEWERS])
    frames = []
    for year in cal.years.tolist():
        day = _epoch_day(date(year, 12, 5)) + rng.integers(0, 15, n)
        managers = np.flatnonzero((day >= cal.start) & (day <= cal.end))
        reviewer_noise = rng.normal(0, 0.3, (managers.size, roles.size))
        mgr = np.repeat(managers, roles.size * n_comp)
        role = np.tile(np.repeat(roles, n_comp), managers.size)
        comp = np.tile(np.arange(n_comp), managers.size * roles.size)
        noise = np.repeat(reviewer_noise.ravel(), n_comp)
        latent = 3.4 + 0.6 * m.quality[mgr] + manager_comp[mgr, comp] + role_bias[role] + noise
        frames.append(
            pl.DataFrame(
                {
                    "manager_id": _take(m.manager_id, mgr),
                    "reviewed_on": _dates(day[mgr]),
                    "reviewer_role": _take(REVIEWER_ROLES, role_index[role]),
                    "competency": _take(COMPETENCIES, comp),
                    "score": _scores(latent + rng.normal(0, 0.5, mgr.size)),
                }
            )
        )
    return pl.concat(frames).sort(["reviewed_on", "manager_id"], maintain_order=True)


# ---------------------------------------------------------------- acquisition


def _make_acquisition(rng: np.random.Generator, a: _Accounts, cal: _Calendar) -> pl.DataFrame:
    """What winning each account won inside the covered range cost: 5-30 % of its first year's expected revenue,
    acquired on its `since` date (accounts won earlier have no record)."""
    won = np.flatnonzero((a.since >= cal.start) & (a.since <= cal.end))
    # Expected yearly revenue: orders x lines per order (1 + 4p) x the median line value.
    yearly = a.orders_per_year[won] * (1 + 4 * a.lines_p[won]) * np.exp(a.line_mu[won])
    return pl.DataFrame(
        {
            "account_id": _take(a.account_id, won),
            "acquired_on": _dates(a.since[won]),
            "acquisition_cost": np.round(yearly * rng.uniform(0.05, 0.3, won.size), 2),
        }
    )


# ---------------------------------------------------------------- invoices


def _make_invoices(
    rng: np.random.Generator, a: _Accounts, lines: dict[str, np.ndarray], cal: _Calendar
) -> pl.DataFrame:
    """One invoice per order that was not cancelled, issued on the order date."""
    n_orders = lines["order_day"].size
    amount = np.round(np.bincount(lines["line_order"], weights=lines["net"], minlength=n_orders), 2)
    cancelled = np.zeros(n_orders, dtype=bool)
    cancelled[lines["line_order"][lines["status"] == 1]] = True
    invoiced = np.flatnonzero(~cancelled)
    account = lines["order_account"][invoiced]
    issued = lines["order_day"][invoiced]
    terms = a.terms[account]
    due = issued + terms
    n = invoiced.size
    payer = a.payer[account]
    u = rng.random(n)
    on_time = issued + (rng.random(n) * (terms - 2)).astype(np.int64) + 3
    late_by = rng.integers(10, 91, n)
    paid = np.select(
        [payer == 0, payer == 1, payer == 2],
        [
            np.where(u < 0.05, due + 1 + late_by % 10, on_time),
            np.where(u < 0.7, due + late_by, on_time),
            np.where(u < 0.6, due + np.maximum(late_by, 30), on_time),
        ],
    )
    unpaid = ((payer == 2) & (u >= 0.6) & (u < 0.85)) | (due > cal.end) | (paid > cal.end)
    return pl.DataFrame(
        {
            "invoice_id": _ids("I", n, 7),
            "account_id": _take(a.account_id, account),
            "issued_on": _dates(issued),
            "due_on": _dates(due),
            "paid_on": _dates(paid).scatter(np.flatnonzero(unpaid), None),
            "amount": amount[invoiced],
        }
    )
