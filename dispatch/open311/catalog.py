"""The Open311 services: the category taxonomy as service codes, and their service definitions.

Codes follow the order of ``cases/data/taxonomy.csv``: a top-level category is ``01``…``15``, a second-level
one ``0101``, a third-level one (a value of the ``subcategory`` attribute) ``010101``; 其他 is ``99``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache

from dispatch.cases import taxonomy

OTHER_CODE = "99"
URGENCY_VALUES = (("normal", "一般 / Normal"), ("urgent", "紧急 / Urgent"))


@dataclass(frozen=True)
class Leaf:
    key: str
    name: str
    path: str


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    path: str  # the category path a request of this service gets
    group: str
    description: str
    keywords: str
    leaves: tuple[Leaf, ...] = field(default=())

    @property
    def attributes(self) -> list[dict]:
        """The service definition's attributes (``order`` starts at 1)."""
        out: list[dict] = []
        if self.leaves:
            out.append(
                {
                    "variable": True,
                    "code": "subcategory",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "datatype_description": "从列表中选择一项 / Choose one of the values",
                    "order": len(out) + 1,
                    "description": "具体事项 / Which issue exactly",
                    "values": [{"key": leaf.key, "name": leaf.name} for leaf in self.leaves],
                }
            )
        out.append(
            {
                "variable": True,
                "code": "urgency",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "从列表中选择一项，默认一般 / Choose one; normal when left out",
                "order": len(out) + 1,
                "description": "紧急程度：紧急诉求须 24 小时内办结 / Urgency: urgent requests are due within 24 hours",
                "values": [{"key": k, "name": n} for k, n in URGENCY_VALUES],
            }
        )
        return out


@dataclass(frozen=True)
class Catalog:
    services: tuple[Service, ...]
    by_code: dict[str, Service]
    by_path: dict[str, Service]  # top-level and second-level paths


@lru_cache
def catalog() -> Catalog:
    tops: list[str] = []
    seconds: dict[tuple[str, str], list[str]] = {}
    with taxonomy._FILE.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            top, second, leaf = (row[k].strip() for k in ("一级分类", "二级分类", "三级分类"))
            if top not in tops:
                tops.append(top)
            seconds.setdefault((top, second), []).append(leaf)
    names = [s for _, s in seconds]
    services: list[Service] = []
    for i, top in enumerate(tops, start=1):
        top_code = f"{i:02d}"
        children = [(t, s) for t, s in seconds if t == top]
        services.append(
            Service(
                code=top_code,
                name=top,
                path=top,
                group=top,
                description=f"{top}类诉求（不细分） / {top}: general",
                keywords=", ".join(s for _, s in children),
            )
        )
        for j, (_, second) in enumerate(children, start=1):
            code = f"{top_code}{j:02d}"
            path = f"{top}/{second}"
            leaves = tuple(
                Leaf(f"{code}{k:02d}", leaf, f"{path}/{leaf}") for k, leaf in enumerate(seconds[(top, second)], 1)
            )
            services.append(
                Service(
                    code=code,
                    name=second if names.count(second) == 1 else f"{top} · {second}",
                    path=path,
                    group=top,
                    description=f"{top} › {second}：" + "、".join(leaf.name for leaf in leaves),
                    keywords=", ".join([second, top, *(leaf.name for leaf in leaves)]),
                    leaves=leaves,
                )
            )
    services.append(
        Service(
            code=OTHER_CODE,
            name=taxonomy.OTHER,
            path=taxonomy.OTHER,
            group=taxonomy.OTHER,
            description="其他诉求 / Anything else",
            keywords="其他, other",
        )
    )
    by_code = {s.code: s for s in services}
    return Catalog(tuple(services), by_code, {s.path: s for s in services})


def service_for(category: str | None) -> Service:
    """The service of a case's category: its second level, else its top level, else 其他."""
    cat = catalog()
    if category:
        parts = category.split("/")
        for depth in (2, 1):
            found = cat.by_path.get("/".join(parts[:depth]))
            if found is not None and len(parts) >= depth:
                return found
    return cat.by_code[OTHER_CODE]


def service_list() -> list[dict]:
    return [
        {
            "service_code": s.code,
            "service_name": s.name,
            "description": s.description,
            "metadata": bool(s.attributes),
            "type": "realtime",
            "keywords": s.keywords,
            "group": s.group,
        }
        for s in catalog().services
    ]


def definition(service: Service) -> dict:
    return {"service_code": service.code, "attributes": service.attributes}
