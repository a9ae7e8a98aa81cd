"""Generators of realistic records for the demo (``huifang demo``) and the import benchmark.

Pure Python, no database: every function returns clean values under the column names of
``huifang.records.schema`` (the shape ``validate_row`` produces and ``RecordsFeed.upsert`` takes).
The benchmark formats the same values as a core system's CSV export (``bench/gen.py``).

Determinism: each stream draws from its own ``random.Random`` seeded from ``seed``, and every date
is an offset from an *anchor* day (the day the demo was first loaded). The same seed and anchor
give the same records in the same order, and policy *i* never depends on how many policies are
asked for, so ``--policies 200`` followed by ``--policies 500`` adds 300 and changes nothing else.
A policy generator keeps only small bounded pools (recent customers per city), so it can stream
millions of rows in constant memory.

What the data holds, so that every callback rule has cases:

* customers with common Chinese names (regional surname frequencies, given names by sex and
  generation), resident ID numbers with a valid GB 11643 checksum that match the birth date and
  sex, the resident-ID region of the policy's city, 13x/15x/18x mobile numbers and addresses in
  that city; family members as insured (spouse, child, parent); employers for group policies
  (unified social credit code with a valid GB 32100 check character);
* a product catalogue across lines and kinds (traditional, 分红, 万能 and 投连 as high-risk, long-term
  health with 20 days' cooling-off, one-year accident, group life);
* salespeople per city and channel, some already departed;
* policies in all five channels, single and regular premiums, whole-life to one-year terms, most
  received (回执签收) in the last 60 days so that cooling-off periods are open, a few awaiting
  receipt, and an older in-force book; applicants aged 60–75 (RC-04 recording, CB-06 with
  high-risk products);
* policy events (cooling-off cancellations, surrenders, lapses and a reinstatement, 保全 requested
  and completed) and claims at every stage, some closed in the last days (claims callback).
"""

import itertools
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from huifang.records.idnumbers import resident_id_make

CHANNELS = ("agency", "bank", "phone", "internet", "group")

# Channel mix: one shuffled block of 20 policies at a time, so that every channel appears in
# every 20 consecutive policies (a small demo still has all five) and the overall mix is stable.
CHANNEL_BLOCK = ("agency",) * 8 + ("bank",) * 5 + ("phone",) * 3 + ("internet",) * 3 + ("group",)


class FastRandom(random.Random):
    """``random.Random`` with float-based ``randint``/``randrange``/``choice``: several times
    faster than the exact bit-drawing versions, and the tiny bias does not matter for demo data.
    Deterministic for a seed like its parent."""

    def randrange(self, start, stop=None, step=1):
        if stop is None:
            start, stop = 0, start
        return start + step * int(self.random() * ((stop - start + step - 1) // step))

    def randint(self, a, b):
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


# ---- places -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    org_unit: str  # org unit code (huifang.org.demo)
    province: str
    name: str
    region: str  # resident-ID region code (a district of the city)
    districts: tuple[str, ...]
    roads: tuple[str, ...]
    estates: tuple[str, ...]
    south: bool  # surname frequencies differ between Guangdong and Jiangsu


CITIES = (
    City(
        "GZ",
        "广东省",
        "广州市",
        "440104",  # 越秀区
        ("越秀区", "天河区", "海珠区", "荔湾区", "白云区", "番禺区", "黄埔区"),
        (
            "中山五路",
            "东风中路",
            "体育西路",
            "天河北路",
            "江南大道中",
            "工业大道北",
            "广州大道北",
            "黄埔大道西",
            "环市东路",
            "解放北路",
            "市桥大北路",
            "同和路",
        ),
        ("华景新城", "汇景新城", "金碧花园", "丽江花园", "广氮花园", "珠江帝景", "祈福新邨", "云山诗意"),
        True,
    ),
    City(
        "SZ",
        "广东省",
        "深圳市",
        "440304",  # 福田区
        ("福田区", "南山区", "罗湖区", "宝安区", "龙岗区", "龙华区"),
        (
            "深南大道",
            "福华三路",
            "华强北路",
            "高新南一道",
            "南海大道",
            "建设路",
            "宝安大道",
            "龙翔大道",
            "民治大道",
            "彩田路",
            "香蜜湖路",
        ),
        ("百花园", "香蜜湖一号", "桃源村", "蔚蓝海岸", "翠海花园", "中海华庭", "碧海云天", "万科城"),
        True,
    ),
    City(
        "NJ",
        "江苏省",
        "南京市",
        "320102",  # 玄武区
        ("玄武区", "秦淮区", "鼓楼区", "建邺区", "栖霞区", "江宁区"),
        (
            "中山路",
            "北京东路",
            "珠江路",
            "中山南路",
            "汉中路",
            "江东中路",
            "湖南路",
            "龙蟠中路",
            "双龙大道",
            "应天大街",
        ),
        ("月安花园", "龙江小区", "仙林新村", "百家湖花园", "翠屏国际", "银城东苑", "南湖新村", "锁金村"),
        False,
    ),
    City(
        "SUZ",
        "江苏省",
        "苏州市",
        "320505",  # 虎丘区
        ("虎丘区", "姑苏区", "吴中区", "相城区", "工业园区"),
        (
            "狮山路",
            "人民路",
            "干将西路",
            "东吴北路",
            "现代大道",
            "星湖街",
            "金鸡湖大道",
            "长江路",
            "苏州大道东",
            "三香路",
        ),
        ("新城花园", "金色家园", "湖畔天城", "玲珑湾", "东港新村", "狮山花园", "桐泾公寓", "蠡口新村"),
        False,
    ),
)
CITY_BY_UNIT = {c.org_unit: c for c in CITIES}
CITY_CUM_WEIGHTS = (30, 60, 80, 100)  # GZ 30%, SZ 30%, NJ 20%, SUZ 20%

# ---- names ------------------------------------------------------------------------------------------

# The most common surnames with rough weights (per mille), one table for Guangdong, one for Jiangsu.
_SURNAMES_COMMON = (
    "王 70,李 65,张 60,刘 45,陈 50,杨 25,黄 25,赵 18,吴 22,周 20,徐 18,孙 12,马 10,朱 15,胡 12,郭 10,"
    "何 12,林 15,高 10,罗 10,郑 10,梁 10,谢 9,宋 7,唐 7,许 8,韩 5,冯 6,邓 7,曹 6,彭 6,曾 7,肖 6,田 4,"
    "董 4,袁 4,潘 5,于 3,蒋 6,蔡 6,余 5,杜 4,叶 6,程 4,苏 4,魏 4,吕 4,丁 4,任 3,沈 6,姚 4,卢 4,姜 3,"
    "崔 2,钟 4,谭 4,陆 5,汪 4,范 4,金 3,石 3,廖 3,贾 2,夏 3,韦 2,方 3,白 2,邹 3,孟 2,熊 2,秦 2,邱 3,"
    "江 3,尹 2,薛 2,闫 1,段 2,雷 2,侯 2,龙 1,史 2,陶 2,黎 2,贺 2,顾 4,毛 2,郝 1,龚 2,邵 2,万 2,钱 3,"
    "严 2,赖 2,覃 1,洪 2,武 2,莫 2,孔 2,温 2,戴 2"
)
_SOUTH_BONUS = {"陈": 40, "黄": 25, "李": 10, "梁": 20, "林": 15, "张": 5, "吴": 8, "刘": 5, "何": 8, "罗": 8}
_EAST_BONUS = {"王": 25, "张": 15, "陈": 10, "徐": 15, "朱": 10, "陆": 8, "顾": 8, "沈": 8, "钱": 5, "周": 8}


def _surname_table(bonus: dict[str, int]) -> tuple[tuple[str, ...], list[int]]:
    names, cum, total = [], [], 0
    for item in _SURNAMES_COMMON.split(","):
        name, weight = item.split()
        total += int(weight) + bonus.get(name, 0)
        names.append(name)
        cum.append(total)
    return tuple(names), cum


SURNAMES_SOUTH = _surname_table(_SOUTH_BONUS)
SURNAMES_EAST = _surname_table(_EAST_BONUS)

# Given-name characters by sex and generation (born before 1975 / later).
GIVEN = {
    (
        "M",
        "old",
    ): "建国 国强 德明 志刚 文华 卫东 振华 永福 海林 金生 庆丰 保国 秀峰 树林 家明 伟 强 军 勇 华 平 明 刚 兵 斌",
    (
        "M",
        "new",
    ): "浩然 子轩 宇航 俊杰 嘉豪 志远 思远 一鸣 博文 梓豪 晨阳 浩宇 明轩 家乐 宇 杰 涛 鹏 超 磊 鑫 昊 帆 凯 琦",
    (
        "F",
        "old",
    ): "秀英 桂兰 玉兰 淑珍 凤英 丽华 美玲 惠芳 秀珍 爱华 翠萍 桂芳 红梅 丽 芳 英 萍 霞 燕 兰 红 敏 静 娟 玲",
    (
        "F",
        "new",
    ): "欣怡 梓涵 诗琪 思雨 雨桐 佳怡 晓雯 婉婷 雅琪 梦瑶 可馨 紫萱 语嫣 婷 颖 琳 倩 洁 悦 蕾 薇 璐 晨 瑶 雪",
}
GIVEN = {k: tuple(v.split()) for k, v in GIVEN.items()}

MOBILE_PREFIXES = tuple(
    str(p) for p in (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190))
)

COMPANY_WORDS = (
    "华南",
    "粤海",
    "鹏程",
    "金陵",
    "姑苏",
    "长江",
    "恒信",
    "瑞丰",
    "宏达",
    "天成",
    "永安",
    "联创",
)
COMPANY_TRADES = ("电子科技", "建筑工程", "物流", "精密机械", "食品", "信息技术", "医疗器械", "纺织", "贸易")

# ---- products -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductSpec:
    code: str
    name: str
    line: str
    kind: str
    term_type: str
    cooling_off_days: int
    high_risk: bool
    channels: tuple[str, ...]
    terms: tuple[int, ...]  # term_years choices; 0 = whole life
    pay_years: tuple[int, ...]  # regular-premium payment periods
    single_share: float  # share sold with a single premium (趸交)
    premium: tuple[int, int]  # premium per year (or single premium), yuan
    sum_factor: tuple[int, int]  # sum assured = annual premium × factor (0: no sum assured)


# fmt: off
PRODUCTS = (
    ProductSpec(
        "HA-WL01", "汇安鑫福终身寿险", "life", "traditional", "long", 15, False,
        ("agency", "bank"), (0,), (10, 20), 0.15, (3000, 30000), (15, 30),
    ),
    ProductSpec(
        "HA-EN02", "汇安金玉满堂两全保险（分红型）", "life", "participating", "long", 15, False,
        ("agency", "bank"), (10, 20), (3, 5, 10), 0.35, (5000, 100000), (3, 6),
    ),
    ProductSpec(
        "HA-AN03", "汇安福寿年年养老年金保险", "life", "traditional", "long", 15, False,
        ("agency", "bank"), (20, 30), (5, 10), 0.25, (10000, 100000), (2, 4),
    ),
    ProductSpec(
        "HA-UL04", "汇安金账户终身寿险（万能型）", "life", "universal", "long", 15, True,
        ("bank", "agency"), (0,), (5, 10), 0.6, (20000, 500000), (1, 2),
    ),
    ProductSpec(
        "HA-IL05", "汇安稳健增长投资连结保险", "life", "investment_linked", "long", 15, True,
        ("bank", "agency"), (0,), (5,), 0.7, (50000, 800000), (1, 2),
    ),
    ProductSpec(
        "HA-CI06", "汇安康宁重大疾病保险", "health", "health", "long", 20, False,
        ("agency", "phone", "internet"), (0, 30), (10, 20, 30), 0.0, (2000, 20000), (20, 60),
    ),
    ProductSpec(
        "HA-MD07", "汇安长期医疗保险（费率可调）", "health", "health", "long", 15, False,
        ("internet", "phone", "agency"), (20,), (20,), 0.0, (300, 3000), (1000, 2000),
    ),
    ProductSpec(
        "HA-AC08", "汇安一年期综合意外伤害保险", "accident", "traditional", "short", 0, False,
        ("phone", "internet", "agency"), (1,), (1,), 1.0, (100, 800), (500, 1500),
    ),
    ProductSpec(
        "HA-GL09", "汇安团体定期寿险", "life", "traditional", "short", 0, False,
        ("group",), (1,), (1,), 1.0, (20000, 300000), (20, 50),
    ),
    ProductSpec(
        "HA-GA10", "汇安团体意外伤害保险", "accident", "traditional", "short", 0, False,
        ("group",), (1,), (1,), 1.0, (10000, 120000), (30, 80),
    ),
)
# fmt: on
PRODUCT_BY_CODE = {p.code: p for p in PRODUCTS}


def product_rows() -> list[dict]:
    """The product catalogue as clean values for ``RecordsFeed("products")``."""
    return [
        {
            "code": p.code,
            "name": p.name,
            "line": p.line,
            "kind": p.kind,
            "term_type": p.term_type,
            "cooling_off_days": p.cooling_off_days,
            "high_risk": p.high_risk,
            "script_code": "",
        }
        for p in PRODUCTS
    ]


# ---- salespeople --------------------------------------------------------------------------------------

# Salespeople per city and channel (internet sales have no agent of record).
SALES_PER_CITY = {"agency": 8, "bank": 4, "phone": 3, "group": 2}
CHANNEL_ABBR = {"agency": "AG", "bank": "BK", "phone": "TM", "group": "GP"}
# (code, days before the anchor): salespeople who have already left (CB-07 orphan policies). The
# first one also lets a later demo run recover the anchor day (huifang.records.demo).
DEPARTED = (("GZAG008", 45), ("NJAG007", 30), ("SZBK004", 21))


@dataclass(frozen=True)
class SalespersonSpec:
    code: str
    name: str
    org_unit: str
    channel: str
    departed_on: date | None

    def active_on(self, day: date) -> bool:
        return self.departed_on is None or day < self.departed_on

    def row(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "org_unit": self.org_unit,
            "channel": self.channel,
            "status": "departed" if self.departed_on else "active",
            "departed_on": self.departed_on,
        }


def salesperson_specs(seed: int, anchor: date) -> list[SalespersonSpec]:
    rng = FastRandom(seed * 7919 + 1)
    departed = dict(DEPARTED)
    specs = []
    for city in CITIES:
        for channel, count in SALES_PER_CITY.items():
            for n in range(1, count + 1):
                code = f"{city.org_unit}{CHANNEL_ABBR[channel]}{n:03d}"
                sex = "F" if rng.random() < 0.55 else "M"
                name = _person_name(rng, sex, 1975 + rng.randrange(25), city.south)
                gone = departed.get(code)
                specs.append(
                    SalespersonSpec(
                        code, name, city.org_unit, channel, anchor - timedelta(days=gone) if gone else None
                    )
                )
    return specs


def salesperson_rows(seed: int, anchor: date) -> list[dict]:
    """Salespeople as clean values for ``RecordsFeed("salespeople")``."""
    return [s.row() for s in salesperson_specs(seed, anchor)]


# ---- people -------------------------------------------------------------------------------------------


def _person_name(rng: random.Random, sex: str, birth_year: int, south: bool) -> str:
    names, cum = SURNAMES_SOUTH if south else SURNAMES_EAST
    surname = rng.choices(names, cum_weights=cum)[0]
    return surname + rng.choice(GIVEN[(sex, "old" if birth_year < 1975 else "new")])


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


def _address(rng: random.Random, city: City) -> str:
    road = f"{rng.choice(city.districts)}{rng.choice(city.roads)}{rng.randint(1, 399)}号"
    if city.south:
        return f"{city.province}{city.name}{road}{rng.choice(city.estates)}{rng.randint(1, 30)}栋{rng.randint(1, 32)}{rng.randint(1, 8):02d}房"
    return f"{city.province}{city.name}{road}{rng.choice(city.estates)}{rng.randint(1, 40)}幢{rng.randint(1, 4)}单元{rng.randint(1, 28)}{rng.randint(1, 4):02d}室"


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_make(region: str, body: str) -> str:
    """A unified social credit code (统一社会信用代码, GB 32100) with a valid check character:
    "91" (enterprise), the 6-digit region, a 9-character organisation code (``body``)."""
    first17 = f"91{region}{body}"
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_ALPHABET[(31 - total % 31) % 31]


# ---- policies -----------------------------------------------------------------------------------------


@dataclass
class GeneratedPolicy:
    """One policy row (clean values, applicant and insured embedded) with its later history."""

    values: dict
    events: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)


# Applicant age brackets by channel: (low, high, weight). Bank branches sell to older savers.
AGE_BRACKETS = {
    "agency": ((22, 29, 15), (30, 39, 27), (40, 49, 25), (50, 59, 20), (60, 75, 13)),
    "bank": ((25, 39, 15), (40, 49, 20), (50, 59, 30), (60, 75, 35)),
    "phone": ((22, 29, 20), (30, 39, 35), (40, 49, 25), (50, 59, 12), (60, 70, 8)),
    "internet": ((20, 29, 40), (30, 39, 40), (40, 49, 15), (50, 60, 5)),
    "group": ((22, 59, 100),),
}
_AGE_CUM = {
    channel: (brackets, list(itertools.accumulate(b[2] for b in brackets)))
    for channel, brackets in AGE_BRACKETS.items()
}
CLAIM_DECISIONS = (("approved", 75), ("partial", 10), ("rejected", 10), ("withdrawn", 5))
# What happens after issue, drawn from shuffled blocks like the channel mix, so that even a small
# demo has every case. New business: 10% cancelled in the cooling-off period, 5% an early 保全.
NEW_BUSINESS_OUTCOMES = ("cancel", "cancel", "address") + ("none",) * 17
# The in-force book: surrender, lapse (one in three reinstated), 保全 requested (two in three done).
BOOK_OUTCOMES = ("surrender", "lapse", "lapse", "lapse_reinstated", "service", "service_done")
BOOK_OUTCOMES += ("service_done", "none", "none", "none")
BOOK_CLAIMS = (True, False, False)  # health and accident policies in the book
CLAIM_STAGES = ("closed",) * 5 + ("reported", "accepted", "accepted", "decided", "paid")


class PolicyGenerator:
    """Streams policies for one seed and anchor day; ``rows(n)`` or iterate for ever.

    ``policy_prefix`` and ``customer_prefix`` start the business keys (policy numbers are
    ``HA0000000001`` …, customer numbers ``KH0000000001`` …).
    """

    def __init__(self, seed: int, anchor: date, *, policy_prefix: str = "HA", customer_prefix: str = "KH"):
        self.seed = seed
        self.anchor = anchor
        self.policy_prefix = policy_prefix
        self.customer_prefix = customer_prefix
        self.salespeople = salesperson_specs(seed, anchor)
        self._sales_by = {}
        for s in self.salespeople:
            self._sales_by.setdefault((s.org_unit, s.channel), []).append(s)

    def rows(self, n: int) -> list[GeneratedPolicy]:
        return list(itertools.islice(self, n))

    def __iter__(self) -> Iterator[GeneratedPolicy]:
        rng = FastRandom(self.seed)
        state = _State(rng)
        for index in itertools.count():
            yield self._policy(rng, state, index)

    # -- one policy ------------------------------------------------------------------------------

    def _customer_no(self, state) -> str:
        state.customers += 1
        return f"{self.customer_prefix}{state.customers:010d}"

    def _person(
        self,
        rng,
        state,
        city: City,
        application: date,
        age: int,
        sex: str | None = None,
        *,
        mobile: bool = True,
        address: str | None = None,
    ) -> dict:
        sex = sex or ("M" if rng.random() < 0.5 else "F")
        birth = application - timedelta(days=age * 365 + age // 4 + rng.randrange(365))
        sequence = state.id_sequence(rng, city.region, birth, sex)
        return {
            "no": self._customer_no(state),
            "name": _person_name(rng, sex, birth.year, city.south),
            "id_type": "resident_id",
            "id_number": resident_id_make(city.region, birth, sequence),
            "birth_date": birth,
            "sex": sex,
            "mobile": _mobile(rng) if mobile else "",
            "address": address if address is not None else _address(rng, city),
        }

    def _company(self, rng, state, city: City) -> dict:
        body = "".join(rng.choice(_USCC_ALPHABET[:10] + "ABCDEFGH") for _ in range(8)) + str(
            rng.randrange(10)
        )
        name = f"{city.name}{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_TRADES)}有限公司"
        return {
            "no": self._customer_no(state),
            "name": name,
            "id_type": "other",
            "id_number": uscc_make(city.region, body),
            "birth_date": None,
            "sex": "U",
            "mobile": _mobile(rng),  # the HR contact's mobile
            "address": _address(rng, city),
        }

    def _policy(self, rng: random.Random, state: "_State", index: int) -> GeneratedPolicy:
        anchor = self.anchor
        city = rng.choices(CITIES, cum_weights=CITY_CUM_WEIGHTS)[0]
        channel = state.next_channel()
        product = state.next_product(channel)
        long_term = product.term_type == "long"

        # Dates: 80% new business received in the last 60 days (many cooling-off periods open),
        # 5% issued in the last days and awaiting receipt, 15% the older in-force book.
        roll = rng.random()
        electronic = channel in ("phone", "internet", "group")  # e-policy: receipt on issue
        if roll < 0.15:
            book = True
            back = rng.randint(400, 2200) if long_term else rng.randint(70, 330)
            application = anchor - timedelta(days=back)
            issue = application + timedelta(days=rng.randint(0, 2) if electronic else rng.randint(1, 7))
            receipt = issue + timedelta(days=0 if electronic else rng.randint(2, 10))
        elif roll < 0.20 and not electronic:
            book = False
            issue = anchor - timedelta(days=rng.randint(0, 4))
            application = issue - timedelta(days=rng.randint(1, 5))
            receipt = None
        else:
            book = False
            # Half in the last three weeks, so that many cooling-off periods are still open.
            receipt = anchor - timedelta(
                days=rng.randint(0, 20) if rng.random() < 0.5 else rng.randint(21, 60)
            )
            issue = receipt - timedelta(days=0 if electronic else rng.randint(2, 10))
            application = issue - timedelta(days=rng.randint(0, 2) if electronic else rng.randint(1, 5))

        # People.
        if channel == "group":
            applicant = self._company(rng, state, city)
            insured = self._person(rng, state, city, application, rng.randint(22, 59))
        else:
            pool = state.pools[city.org_unit]
            if pool and not book and rng.random() < 0.08:
                applicant = rng.choice(pool)  # an existing customer buys again
            else:
                brackets, cum = _AGE_CUM[channel]
                low, high, _w = rng.choices(brackets, cum_weights=cum)[0]
                applicant = self._person(rng, state, city, application, rng.randint(low, high))
                pool.append(applicant)
            age = (application - applicant["birth_date"]).days // 365
            who = rng.random()
            if product.line == "health" and 25 <= age <= 50 and who < 0.25:
                child_age = rng.randint(0, 17)
                insured = self._person(  # a child, same household
                    rng, state, city, application, child_age, mobile=False, address=applicant["address"]
                )
            elif 30 <= age <= 50 and who > 0.9:
                insured = self._person(  # a parent
                    rng, state, city, application, age + rng.randint(24, 32), address=applicant["address"]
                )
            elif age >= 25 and who > 0.8:
                spouse_age = max(20, age + rng.randint(-4, 4))
                spouse_sex = "F" if applicant["sex"] == "M" else "M"
                insured = self._person(  # the spouse
                    rng, state, city, application, spouse_age, spouse_sex, address=applicant["address"]
                )
            else:
                insured = applicant

        # Salesperson: one of the city's salespeople for the channel who was there on the day.
        candidates = [s for s in self._sales_by.get((city.org_unit, channel), ()) if s.active_on(application)]
        salesperson = rng.choice(candidates).code if candidates else ""

        # Premium and terms.
        single = rng.random() < product.single_share
        low, high = product.premium
        annual = rng.randint(low // 10, high // 10) * 10
        if single:
            mode, frequency, pay_years = "single", "single", 1
            premium = annual * (3 if product.term_type == "long" else 1)
        else:
            mode, pay_years = "regular", rng.choice(product.pay_years)
            if channel == "phone" and rng.random() < 0.7:
                frequency = "monthly"
            else:
                frequency = rng.choices(
                    ("annual", "monthly", "semiannual", "quarterly"), weights=(85, 9, 3, 3)
                )[0]
            premium = annual // {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}[frequency]
        low_f, high_f = product.sum_factor
        sum_assured = annual * rng.randint(low_f, high_f) // 1000 * 1000 or None
        term = rng.choice(product.terms)

        # 双录 (RC-04): done when required, bar a few misses the callback must catch; agents also
        # record some sales voluntarily.
        age = None if channel == "group" else (application - applicant["birth_date"]).days // 365
        long_policy = long_term and term != 1
        required = (
            (channel == "bank" and long_policy)
            or product.kind == "investment_linked"
            or (age is not None and age >= 60 and long_policy)
            or channel == "phone"
        )
        sale_recorded = rng.random() < 0.97 if required else rng.random() < 0.2

        policy_no = f"{self.policy_prefix}{index + 1:010d}"
        values = {
            "policy_no": policy_no,
            "product_code": product.code,
            "channel": channel,
            "is_group": channel == "group",
            "org_unit": city.org_unit,
            "salesperson_code": salesperson,
            "premium": Decimal(premium).quantize(Decimal("0.01")),
            "sum_assured": Decimal(sum_assured).quantize(Decimal("0.01")) if sum_assured else None,
            "payment_mode": mode,
            "payment_years": pay_years,
            "payment_frequency": frequency,
            "term_years": term,
            "application_date": application,
            "issue_date": issue,
            "receipt_date": receipt,
            "termination_date": None,
            "status": "in_force",
            "sale_recorded": sale_recorded,
        }
        for prefix, person in (("applicant_", applicant), ("insured_", insured)):
            for key, value in person.items():
                values[prefix + key] = value
        generated = GeneratedPolicy(values)
        self._history(rng, state, generated, product, book=book, single=single)
        return generated

    # -- what happened after issue -----------------------------------------------------------------

    def _history(self, rng, state, generated: GeneratedPolicy, product: ProductSpec, *, book, single):
        anchor = self.anchor
        v = generated.values
        receipt, issue = v["receipt_date"], v["issue_date"]
        events = generated.events

        def event(kind: str, on: date, note: str = "") -> None:
            events.append(
                {
                    "event_no": f"{v['policy_no']}-E{len(events) + 1}",
                    "policy_no": v["policy_no"],
                    "kind": kind,
                    "event_date": on,
                    "note": note,
                }
            )

        cancelled = False
        if not book:
            outcome = state.draw("new", NEW_BUSINESS_OUTCOMES)
            if outcome == "cancel" and product.cooling_off_days and receipt and receipt < anchor:
                # 犹豫期撤单 within the cooling-off period (CO-03)
                latest = min(product.cooling_off_days, (anchor - receipt).days)
                event(
                    "cooling_off_cancel",
                    receipt + timedelta(days=rng.randint(1, latest)),
                    "客户犹豫期内申请撤单",
                )
                cancelled = True
            elif outcome == "address" and receipt and receipt < anchor:
                event("service_requested", receipt + timedelta(days=1), "变更联系地址")
        else:
            outcome = state.draw("book", BOOK_OUTCOMES)
            cool_end = receipt + timedelta(days=product.cooling_off_days)
            span = (anchor - cool_end).days
            if outcome.startswith("lapse") and (single or span <= 120):
                outcome = "service"
            if outcome == "surrender" and span <= 40:
                outcome = "service_done"
            if outcome == "surrender":
                event("surrender", cool_end + timedelta(days=rng.randint(30, span - 1)), "客户申请退保")
            elif outcome.startswith("lapse"):
                lapsed = cool_end + timedelta(days=rng.randint(90, span - 1))
                event("lapse", lapsed, "宽限期满未缴续期保费")
                if outcome == "lapse_reinstated" and (anchor - lapsed).days > 10:
                    back = lapsed + timedelta(days=rng.randint(5, (anchor - lapsed).days - 1))
                    event("reinstatement", back, "补缴保费及利息，申请复效")
            elif outcome.startswith("service"):
                requested = anchor - timedelta(days=rng.randint(1, 30))
                kind = rng.choice(("变更受益人", "变更联系电话", "变更缴费账户", "保单贷款"))
                event("service_requested", requested, kind)
                if outcome == "service_done":
                    done = min(anchor, requested + timedelta(days=rng.randint(1, 5)))
                    event("service_completed", done, kind)

        if product.line in ("health", "accident"):
            claim = state.draw("claim", BOOK_CLAIMS) if book else rng.random() < 0.04
        else:
            claim = book and rng.random() < 0.03
        if cancelled or not claim:
            return
        start = issue + timedelta(days=1)
        if (anchor - start).days < 5:
            return
        stage = state.draw("stage", CLAIM_STAGES)
        if stage == "closed":  # most closed in the last three weeks (claims callback, KP-07)
            closed = anchor - timedelta(days=rng.randint(0, 20))
            reported = max(start, closed - timedelta(days=rng.randint(3, 40)))
            if closed < reported:
                closed = reported
        else:
            reported = anchor - timedelta(days=rng.randint(0, min(30, (anchor - start).days)))
            closed = None
        accepted = reported + timedelta(days=1) if stage != "reported" else None
        decided = paid = None
        decision = ""
        if stage in ("decided", "paid", "closed"):
            decision = rng.choices([d for d, _w in CLAIM_DECISIONS], [w for _d, w in CLAIM_DECISIONS])[0]
            decided = min(closed or anchor, reported + timedelta(days=rng.randint(2, 10)))
            if decision in ("approved", "partial") and stage in ("paid", "closed"):
                paid = min(closed or anchor, decided + timedelta(days=rng.randint(0, 3)))
            elif stage == "paid":
                stage = "decided"  # nothing to pay on a rejection or withdrawal
        if accepted and decided and accepted > decided:
            accepted = decided
        if product.line == "life":
            claimed = v["sum_assured"] or v["premium"] * 10
        elif product.line == "health":
            claimed = Decimal(rng.randint(2000, 80000))
        else:
            claimed = Decimal(rng.randint(500, 20000))
        claimed = Decimal(claimed).quantize(Decimal("0.01"))
        amount_paid = None
        if paid:
            share = Decimal(1) if decision == "approved" else Decimal(rng.randint(30, 90)) / 100
            amount_paid = (claimed * share).quantize(Decimal("0.01"))
        # The insured claims for themselves when adult; otherwise the policyholder does.
        insured_birth = v["insured_birth_date"]
        claimant = v["applicant_no"]
        if insured_birth and (reported - insured_birth).days >= 18 * 365:
            claimant = v["insured_no"]
        generated.claims.append(
            {
                "claim_no": "LP" + v["policy_no"][len(self.policy_prefix) :],
                "policy_no": v["policy_no"],
                "claimant_no": claimant,
                "reported_on": reported,
                "accepted_on": accepted,
                "decided_on": decided,
                "paid_on": paid,
                "closed_on": closed,
                "decision": decision,
                "amount_claimed": claimed,
                "amount_paid": amount_paid,
                "status": stage,
            }
        )


class _State:
    """Mutable generator state: the channel/product cycles, customer numbering, recent customers."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.customers = 0
        self.pools = {c.org_unit: deque(maxlen=300) for c in CITIES}
        self._channels: list[str] = []
        self._sequences: dict[int, int] = {}
        self._blocks: dict[str, list] = {}
        self._products: dict[str, list[ProductSpec]] = {}

    def id_sequence(self, rng, region: str, birth: date, sex: str) -> int:
        """The 3-digit sequence of a resident ID: unique per region, birth date and sex (the first
        from a random start, then counting up), and odd for men, even for women (GB 11643)."""
        key = (int(region) * 800_000 + birth.toordinal()) * 2 + (sex == "M")
        taken = self._sequences.get(key)
        if taken is None:
            start = rng.randrange(500)
            self._sequences[key] = start * 1000 + 1
        else:
            start, count = divmod(taken, 1000)
            self._sequences[key] = taken + 1
            start += count
        return (start % 500) * 2 + (1 if sex == "M" else 0)

    def draw(self, name: str, block: tuple):
        """The next item of a shuffled block (refilled and reshuffled when used up)."""
        queue = self._blocks.get(name)
        if not queue:
            queue = self._blocks[name] = list(block)
            self.rng.shuffle(queue)
        return queue.pop()

    def next_channel(self) -> str:
        if not self._channels:
            self._channels = list(CHANNEL_BLOCK)
            self.rng.shuffle(self._channels)
        return self._channels.pop()

    def next_product(self, channel: str) -> ProductSpec:
        # Every product of a channel comes round before any repeats, in a shuffled order.
        queue = self._products.get(channel)
        if not queue:
            queue = [p for p in PRODUCTS if channel in p.channels]
            self.rng.shuffle(queue)
            self._products[channel] = queue
        return queue.pop()


def salesperson_departure_event(policies: list[GeneratedPolicy], anchor: date) -> dict | None:
    """A 业务员离司 event for the salesperson of the first agency policy whose salesperson is still
    active (applying it marks the salesperson departed; CB-07 calls back their policies)."""
    departed = {code for code, _days in DEPARTED}
    for p in policies:
        v = p.values
        if v["channel"] == "agency" and v["salesperson_code"] and v["salesperson_code"] not in departed:
            return {
                "event_no": f"{v['policy_no']}-SD",
                "policy_no": v["policy_no"],
                "kind": "salesperson_departed",
                "event_date": anchor - timedelta(days=1),
                "note": f"业务员 {v['salesperson_code']} 离司",
            }
    return None
