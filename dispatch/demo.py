"""The Yandu demo data: a point in every village, about 300 members, 120 think-tank experts, departments,
mailboxes, sample cases.

Town and village positions are not real (no public coordinates exist): ``regions.reference`` places them
inside the district polygon with a fixed seed, and members are placed around them the same way.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, func, select

from dispatch.auth.service import create_user
from dispatch.cases import taxonomy
from dispatch.cases.service import NewCase
from dispatch.departments.models import Department
from dispatch.experts.models import Expert
from dispatch.intake.models import Mailbox
from dispatch.members.models import Member
from dispatch.points.models import Point
from dispatch.points.service import new_token
from dispatch.regions import reference
from dispatch.regions.models import Region

SEED = 20261121
SECTORS = [
    "中共",
    "民革",
    "民盟",
    "民建",
    "民进",
    "农工党",
    "致公党",
    "九三学社",
    "无党派人士",
    "共青团",
    "工会",
    "妇联",
    "科技界",
    "经济界",
    "农业界",
    "教育界",
    "文化艺术界",
    "医药卫生界",
]
SECTOR_SLUGS = [
    "ccp",
    "rcck",
    "cdl",
    "cndca",
    "capd",
    "cpwdp",
    "zgd",
    "jiusan",
    "independent",
    "cyl",
    "union",
    "women",
    "science",
    "economy",
    "agriculture",
    "education",
    "culture",
    "health",
]
DEPARTMENTS = [
    "区住房和城乡建设局",
    "区城市管理局",
    "区交通运输局",
    "区生态环境局",
    "区水务局",
    "区市场监督管理局",
    "区人力资源和社会保障局",
    "区卫生健康委员会",
    "区教育局",
    "区农业农村局",
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌海燕鹏辉婷雪梅春林晨宇"
SAMPLES = [
    ("城乡建设", "小区门口路灯坏了一个多月，晚上出行不安全。"),
    ("城乡建设", "村道有一段坑洼积水，电动车经过容易滑倒。"),
    ("环境保护", "河边有人倾倒建筑垃圾，气味很大。"),
    ("交通运输", "公交站台遮雨棚破损，下雨天候车不便。"),
    ("卫生计生", "社区卫生服务站周末不开门，老人看病不方便。"),
    ("教育文体", "学校门口早晚高峰拥堵，希望增设护学岗。"),
    ("劳动和社会保障", "企业拖欠工资三个月，多次讨要未果。"),
    ("商贸旅游", "菜市场有摊位缺斤少两。"),
]


# the think tank (协商智库): Yandu's gathers 1,450 policy experts, departments' specialists, lawyers, seasoned
# people of the trades and local notables; the demo holds a sample of each group, fields named like the 12345
# categories (what the cases of a topic are filed under) plus the specialities the consultations ask for
EXPERT_FIELDS = {
    "policy": (
        ("中共盐城市盐都区委党校", "副教授", ("党务政务", "民政")),
        ("盐城师范学院", "教授", ("教育文体", "经济管理")),
        ("盐城工学院", "副教授", ("科技与信息产业", "经济管理")),
        ("盐城市社会科学院", "研究员", ("民政", "劳动和社会保障")),
        ("盐都区发展和改革委员会", "政策研究室主任", ("经济管理", "国土资源")),
        ("盐城市委政策研究室", "调研员", ("党务政务", "经济管理")),
        ("盐城师范学院", "副教授", ("环境保护", "农村农业")),
    ),
    "department": (
        ("区住房和城乡建设局", "工程师", ("城乡建设", "物业管理")),
        ("区城市管理局", "科长", ("城乡建设", "市容环卫")),
        ("区交通运输局", "高级工程师", ("交通运输",)),
        ("区生态环境局", "工程师", ("环境保护",)),
        ("区水务局", "高级工程师", ("环境保护", "农村农业")),
        ("区市场监督管理局", "科长", ("商贸旅游", "食品安全")),
        ("区人力资源和社会保障局", "劳动保障监察员", ("劳动和社会保障",)),
        ("区卫生健康委员会", "主任医师", ("卫生计生",)),
        ("区教育局", "高级教师", ("教育文体",)),
        ("区农业农村局", "农艺师", ("农村农业",)),
    ),
    "law": (
        ("江苏盐都律师事务所", "律师", ("政法", "法律咨询")),
        ("江苏弘正律师事务所", "律师", ("法律咨询", "劳动和社会保障")),
        ("盐都区法律援助中心", "法律援助律师", ("法律咨询", "人民调解")),
        ("盐都区人民调解委员会", "人民调解员", ("人民调解", "民政")),
        ("盐都区司法局", "公职律师", ("政法", "法律咨询")),
        ("盐城仲裁委员会", "仲裁员", ("法律咨询", "商贸旅游")),
    ),
    "trade": (
        ("盐城市规划设计研究院", "高级工程师", ("城乡建设", "国土资源")),
        ("盐都区建筑业协会", "秘书长", ("城乡建设",)),
        ("盐都区物业管理协会", "副会长", ("物业管理", "城乡建设")),
        ("盐城市第一人民医院", "副主任医师", ("卫生计生",)),
        ("盐都区人民医院", "主治医师", ("卫生计生", "养老服务")),
        ("盐城公交集团", "线路规划主管", ("交通运输",)),
        ("盐都区个体劳动者协会", "会长", ("商贸旅游",)),
        ("盐都区农民专业合作社联合会", "理事长", ("农村农业",)),
        ("江苏环保产业园", "环评工程师", ("环境保护",)),
        ("盐都区养老服务中心", "主任", ("养老服务", "民政")),
        ("盐城电信分公司", "工程师", ("科技与信息产业",)),
    ),
    "notable": (
        ("", "退休教师", ("教育文体", "人民调解")),
        ("", "返乡企业家", ("农村农业", "商贸旅游")),
        ("", "退休村干部", ("人民调解", "农村农业")),
        ("", "老党员", ("民政", "人民调解")),
        ("", "乡村医生", ("卫生计生",)),
        ("", "种植大户", ("农村农业",)),
    ),
}
EXPERTS_PER_KIND = {"policy": 20, "department": 22, "law": 18, "trade": 28, "notable": 32}  # 120


def demo_experts(towns: list[Region], seed: int = SEED) -> list[Expert]:
    """About 120 think-tank experts over the five groups; local notables two in each town, the others spread
    over the towns; a few declare a town they must stay away from (a relative on its staff, a client there)."""
    rng = random.Random(seed + 2)  # its own stream: the points, members and accounts stay as they were
    phones: set[str] = set()
    out = []
    for kind, n in EXPERTS_PER_KIND.items():
        profiles = EXPERT_FIELDS[kind]
        for i in range(n):
            organisation, title, fields = profiles[i % len(profiles)]
            town = towns[i % len(towns)] if kind == "notable" else rng.choice(towns)
            if kind == "notable":
                organisation = f"{town.name}乡贤理事会"
            phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
            while phone in phones:
                phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
            phones.add(phone)
            conflicts = [rng.choice(towns).code] if kind in ("law", "trade") and rng.random() < 0.15 else []
            out.append(
                Expert(
                    name=_name(rng),
                    phone=phone,
                    organisation=organisation,
                    title=title,
                    kind=kind,
                    town_code=town.code,
                    fields=list(fields),
                    active=rng.random() < 0.95,
                    conflict_towns=[c for c in conflicts if c != town.code],
                )
            )
    return out


def _point_kind(i: int) -> str:
    return ("opinion_point", "consultation_room", "member_studio")[i % 10 % 3] if i % 10 < 3 else "opinion_point"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _near(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    for _ in range(100):
        dlat = rng.uniform(-km, km) / 111.0
        dlon = rng.uniform(-km, km) / 93.0
        if reference.inside_district(lat + dlat, lon + dlon):
            return round(lat + dlat, 6), round(lon + dlon, 6)
    return lat, lon


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(Member)).one() == 0


def load(
    session: Session, *, members: int = 300, cases: int = 20, progress: Callable[[int], None] = lambda n: None
) -> dict[str, int]:
    """Add the demo data to an empty database (one transaction); ``progress`` gets steps done."""
    rng = random.Random(SEED)
    villages = list(session.exec(select(Region).where(Region.level == "village").order_by(Region.code)).all())
    towns = list(session.exec(select(Region).where(Region.level == "town").order_by(Region.code)).all())
    points = []
    for i, v in enumerate(villages):
        assert v.parent_code is not None  # a village's town
        lat, lon = _near(rng, v.lat, v.lon, 0.3)
        suffix = {"consultation_room": "协商议事室", "member_studio": "委员工作室", "opinion_point": "社情民意联系点"}
        kind = _point_kind(i)
        points.append(
            Point(
                name=f"{v.name}{suffix[kind]}",
                kind=kind,
                village_code=v.code,
                town_code=v.parent_code,
                lat=lat,
                lon=lon,
                qr_token=new_token(),
            )
        )
        progress(1)
    session.add_all(points)
    session.flush()
    by_town: dict[str, list[Point]] = {}
    for p in points:
        by_town.setdefault(p.town_code, []).append(p)
    tops = [c for c in taxonomy.top_level() if c != taxonomy.OTHER]
    made = []
    for i in range(members):
        level = "district" if i % 10 == 0 else ("town" if i % 10 < 5 else "village")
        town = towns[i % len(towns)]
        point = rng.choice(by_town.get(town.code) or points)
        lat, lon = _near(rng, point.lat, point.lon, 1.5)
        cats = [] if rng.random() < 0.5 else rng.sample(tops, rng.choice((1, 2, 3)))
        made.append(
            Member(
                name=_name(rng),
                phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                level=level,
                sector=SECTORS[i % len(SECTORS)],
                town_code=town.code,
                village_code=point.village_code if level == "village" else None,
                point_id=point.id,
                categories=cats,
                capacity=rng.choice((2, 3, 3, 5)),
                on_duty=rng.random() < 0.85,
                lat=lat,
                lon=lon,
            )
        )
        progress(1)
    session.add_all(made)
    experts = demo_experts(towns)
    session.add_all(experts)
    session.add_all(Department(name=n) for n in DEPARTMENTS)
    session.flush()
    session.add_all(
        Mailbox(address=f"{slug}@cppcc.yandu.gov.cn", kind="sector", sector=name)
        for slug, name in zip(SECTOR_SLUGS, SECTORS, strict=True)
    )
    session.add_all(Mailbox(address=f"member{m.id}@cppcc.yandu.gov.cn", kind="member", member_id=m.id) for m in made)
    session.commit()
    return {"points": len(points), "members": len(made), "departments": len(DEPARTMENTS), "experts": len(experts)}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str
    member: str = ""  # for a member account: who, where, which level


ACCOUNTS_FILE = "demo-accounts.txt"
LEVEL_NAMES = {"district": "区级", "town": "镇级", "village": "村级"}


def create_accounts(session: Session) -> list[DemoAccount]:
    """One account per staff role and three member accounts (a district, a town and a village member, each of
    another town, on duty), each with a fresh random password; committed."""
    towns = {r.code: r.name for r in session.exec(select(Region).where(Region.level == "town")).all()}
    members = session.exec(select(Member).where(Member.on_duty).order_by(col(Member.id))).all()
    picked: list[Member] = []
    for level in ("district", "town", "village"):
        m = next((m for m in members if m.level == level and m.town_code not in {p.town_code for p in picked}), None)
        if m is not None:
            picked.append(m)
    accounts = [DemoAccount(role, role, secrets.token_urlsafe(12)) for role in ("admin", "operator", "supervisor")]
    accounts += [
        DemoAccount(
            f"member{n}",
            "member",
            secrets.token_urlsafe(12),
            f"{m.name} · {towns.get(m.town_code or '', '')} · {LEVEL_NAMES[m.level]}",
        )
        for n, m in enumerate(picked, start=1)
    ]
    by_name = {f"member{n}": m.id for n, m in enumerate(picked, start=1)}
    for a in accounts:
        create_user(session, a.username, a.password, a.role, by_name.get(a.username))
    session.commit()
    return accounts


def write_accounts(accounts: list[DemoAccount], var_dir: Path) -> Path:
    """The demo's sign-ins in var/demo-accounts.txt, readable by the owner only (0600)."""
    path = var_dir / ACCOUNTS_FILE
    var_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Shangliang demo accounts (made once, when the demo was loaded). Sign in at /login.", ""]
    lines += [f"{a.role:<11} {a.username:<11} {a.password}  {a.member}".rstrip() for a in accounts]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def sample_cases(n: int, seed: int = SEED) -> list[NewCase]:
    """Short invented cases near random villages (no real residents' text)."""
    rng = random.Random(seed + 1)
    villages = [r for r in reference.load_reference() if r["level"] == "village"]
    out = []
    for i in range(n):
        v = rng.choice(villages)
        lat, lon = _near(rng, v["lat"], v["lon"], 0.8)
        category, text = rng.choice(SAMPLES)
        out.append(
            NewCase(
                channel="hotline",
                content=f"{v['name']}附近：{text}",
                actor="demo",
                external_id=f"demo-{i + 1}",
                category=category,
                lat=lat,
                lon=lon,
                reporter_phone=f"139{rng.randrange(10**8):08d}",
            )
        )
    return out
