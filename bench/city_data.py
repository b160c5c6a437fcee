"""The synthetic city of bench_city: Quanzhou's 12 county-level divisions,
units of skewed sizes, and persons with valid, distinct ID numbers.

Everything is derived from integers (a person's index, a unit's index and
the run's seed), so nothing per person is kept but the unit that holds the
person now and the person's status."""
import random
from array import array
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from common.credit_code import ALPHABET, check_character as credit_check
from common.identity import check_character as id_check

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")

# GB/T 2260 codes of Quanzhou's county-level divisions, with a rough weight
# (resident population, 10,000s) for how many units each gets. 金门县 is in
# the code table but not administered from Quanzhou: it gets one unit, so
# every code appears.
DIVISIONS = (
    ("350502", "鲤城区", 40, ("开元街道", "海滨街道", "临江街道", "鲤中街道", "浮桥街道", "江南街道", "金龙街道", "常泰街道")),
    ("350503", "丰泽区", 60, ("东海街道", "城东街道", "东湖街道", "丰泽街道", "泉秀街道", "华大街道", "清源街道", "北峰街道")),
    ("350504", "洛江区", 25, ("万安街道", "双阳街道", "河市镇", "马甲镇", "罗溪镇", "虹山乡")),
    ("350505", "泉港区", 40, ("山腰街道", "南埔镇", "界山镇", "后龙镇", "峰尾镇", "前黄镇", "涂岭镇")),
    ("350521", "惠安县", 100, ("螺城镇", "螺阳镇", "黄塘镇", "紫山镇", "东岭镇", "东桥镇", "崇武镇", "山霞镇", "净峰镇", "小岞镇")),
    ("350524", "安溪县", 100, ("凤城镇", "城厢镇", "参内镇", "魁斗镇", "蓬莱镇", "金谷镇", "湖头镇", "官桥镇", "龙门镇", "西坪镇")),
    ("350525", "永春县", 45, ("桃城镇", "五里街镇", "一都镇", "下洋镇", "蓬壶镇", "达埔镇", "石鼓镇", "岵山镇")),
    ("350526", "德化县", 30, ("浔中镇", "龙浔镇", "三班镇", "龙门滩镇", "雷峰镇", "南埕镇", "水口镇", "盖德镇")),
    ("350527", "金门县", 0, ("金城镇",)),
    ("350581", "石狮市", 70, ("湖滨街道", "凤里街道", "灵秀镇", "宝盖镇", "蚶江镇", "祥芝镇", "鸿山镇", "锦尚镇", "永宁镇")),
    ("350582", "晋江市", 200, ("青阳街道", "梅岭街道", "西园街道", "罗山街道", "灵源街道", "新塘街道", "陈埭镇", "池店镇", "安海镇", "磁灶镇", "内坑镇", "紫帽镇", "东石镇", "英林镇", "金井镇", "深沪镇", "龙湖镇", "永和镇")),
    ("350583", "南安市", 150, ("溪美街道", "柳城街道", "美林街道", "省新镇", "仑苍镇", "东田镇", "英都镇", "翔云镇", "金淘镇", "诗山镇", "水头镇", "石井镇", "官桥镇", "丰州镇", "洪濑镇")),
)
CITY = "福建省泉州市"

SURNAMES = "陈林黄王张吴蔡洪李郑许苏庄施杨刘曾谢柯颜周戴傅叶郭卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰志海建国文辉宏俊燕萍鑫淑惠婷雅琳思源晨阳宇浩然子涵梓萱"
MOBILE_PREFIXES = ("139", "138", "159", "158", "188", "187", "177", "135", "136", "189")
SUSPENSION_REASONS = ("01 死亡", "02 参加职工基本医疗保险", "03 迁出本统筹区", "05 参军入伍", "06 出国（境）定居")
DAYS = 30_000  # birth dates spread over 1941..2023; with 1,000 sequence numbers, 30,000,000 distinct IDs
FIRST_BIRTH = date(1941, 1, 1)


# -- units ----------------------------------------------------------------------

class Unit:
    __slots__ = ("index", "division", "division_name", "name", "credit_code", "account", "size",
                 "id", "token", "filled")

    def __init__(self, index, division, division_name, name, credit_code, account, size):
        self.index, self.division, self.division_name = index, division, division_name
        self.name, self.credit_code, self.account, self.size = name, credit_code, account, size
        self.id = self.token = None
        self.filled = 0  # persons enrolled here by the fill so far

    def ref(self):
        return {"id": self.id, "name": self.name, "credit_code": self.credit_code}


def credit_code(division, rng, kind):
    """An 18-character 统一社会信用代码 whose region digits (3-8) are the
    division's GB/T 2260 code: registration authority and category digits as
    plausible for the kind of unit, a random organisation code, the check
    character of GB 32100."""
    head = {"社区": "55", "村": "N2", "学校": "12"}[kind]
    first = head + division + "".join(rng.choice(ALPHABET) for _ in range(9))
    return first + credit_check(first)


def unit_sizes(persons, rng, largest=40_000):
    """Sizes summing to `persons` over about persons/2,000 units: most 500-3,000
    (triangular, mode 1,200), about 1 unit in 100 large (6,000-30,000), the
    very largest `largest` (at most a fifth of the city)."""
    count = max(1, round(persons / 2000))
    if count == 1:
        return [persons]
    top = min(largest, persons // 5)
    big = max(1, count // 100)
    sizes = [top] + [rng.randint(min(6000, top), min(30_000, top)) for _ in range(big - 1)]
    small = [rng.triangular(500, 3000, 1200) for _ in range(count - big)]
    room = persons - sum(sizes)
    scale = room / sum(small) if small else 0
    small = [max(100, int(s * scale)) for s in small]
    sizes += small
    sizes[-1] += persons - sum(sizes)  # exact total
    if sizes[-1] < 50:  # the rounding pushed the last one too low: spread it
        short = 50 - sizes[-1]
        sizes[-1] = 50
        for i in range(1, len(sizes) - 1):
            take = min(short, max(0, sizes[i] - 500))
            sizes[i] -= take
            short -= take
            if not short:
                break
    return sizes


def plan_units(persons, seed, prefix):
    """The units of a city of `persons`, the largest first, the rest in a
    random order; names and credit codes by division."""
    rng = random.Random(seed)
    sizes = unit_sizes(persons, rng)
    rest = sizes[1:]
    rng.shuffle(rest)
    sizes = sizes[:1] + rest
    weights = [max(d[2], 0.2) for d in DIVISIONS]
    units, used_codes = [], set()
    for index, size in enumerate(sizes):
        # every division gets its first unit among the first twelve
        d = DIVISIONS[index] if index < len(DIVISIONS) else rng.choices(DIVISIONS, weights)[0]
        code, division_name, _, towns = d
        town = rng.choice(towns)
        kind = "学校" if size < 1000 and rng.random() < 0.1 else ("村" if "镇" in town and rng.random() < 0.6 else "社区")
        if kind == "学校":
            name = f"{CITY}{division_name}{town}第{index % 9 + 1}中心小学{index}"
        elif kind == "村":
            name = f"{CITY}{division_name}{town}{SURNAMES[index % len(SURNAMES)]}厝村{index}村民委员会"
        else:
            name = f"{CITY}{division_name}{town}第{index}社区居民委员会"
        while True:
            cc = credit_code(code, rng, kind)
            if cc not in used_codes:
                used_codes.add(cc)
                break
        units.append(Unit(index, code, division_name, name, cc, f"{prefix}{index:05d}", size))
    return units


# -- persons --------------------------------------------------------------------

def business_today():
    return datetime.now(BUSINESS_TZ).date()


class People:
    """Persons 0..capacity-1: who they are (from the index) and where they
    are now (`unit`: the unit's index, -1 before enrolment; `status`:
    0 never enrolled, 1 active, 2 suspended)."""

    def __init__(self, capacity, salt):
        self.unit = array("i", [-1]) * capacity
        self.status = bytearray(capacity)
        self.home = bytearray(capacity)  # index into DIVISIONS of the ID number's region
        self.salt = salt
        self.today = business_today()
        self.phone_changes = {}  # index -> phone after a change

    def cert_no(self, i):
        region = DIVISIONS[self.home[i] if i < len(self.home) else 1][0]
        born = FIRST_BIRTH + timedelta(days=(i * 7919 + self.salt) % DAYS)
        seq = (i // DAYS) % 1000
        # (i*7919 + salt) % DAYS is a bijection on each block of DAYS indices
        # (7919 is prime to 30,000), so (born, seq) never repeats below 30,000,000.
        first = f"{region}{born:%Y%m%d}{seq:03d}"
        return first + id_check(first)

    def born(self, i):
        return FIRST_BIRTH + timedelta(days=(i * 7919 + self.salt) % DAYS)

    def name(self, i):
        s = SURNAMES[i % len(SURNAMES)]
        g1 = GIVEN[(i // 7) % len(GIVEN)]
        if i % 3:
            return s + g1 + GIVEN[(i // 331) % len(GIVEN)]
        return s + g1

    def category(self, i):
        born, today = self.born(i), self.today
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < 18:
            return "13 未成年居民"
        if age >= 60 and i % 2:
            return "12 老年居民"
        return "11 成年居民"

    def phone(self, i):
        return self.phone_changes.get(i) or f"{MOBILE_PREFIXES[i % 10]}{(i * 104729) % 100_000_000:08d}"



DIVISION_INDEX = {d[0]: n for n, d in enumerate(DIVISIONS)}


def enrolment_row(people, i, unit):
    return {
        "cert_type": "01 居民身份证（户口簿）", "cert_no": people.cert_no(i), "name": people.name(i),
        "gender": None, "birth_date": None, "nation": "01 汉", "category": people.category(i),
        "phone": people.phone(i),
        "hukou_address": f"{CITY}{unit.division_name}",
        "address": f"{unit.division_name}{i % 300 + 1}号", "remark": None,
    }


def suspension_row(people, i, rng):
    return {"cert_type": "01", "cert_no": people.cert_no(i), "name": people.name(i),
            "reason": rng.choice(SUSPENSION_REASONS), "remark": None}
