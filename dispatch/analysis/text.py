"""Text helpers for 研判: jieba tokens (see ``segment``), a small stop-word list, TF-IDF vectors and cosine.

A vector is a ``dict[str, float]`` of L2-normalised TF-IDF weights (sublinear term frequency, smoothed idf), so
the cosine of two vectors is their dot product. ``similar_pairs`` finds every pair above a threshold through an
inverted index instead of comparing all pairs.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from operator import mul

from dispatch.analysis.segment import segmenter

# Function words and the boilerplate of complaint letters: frequent everywhere, they say nothing about a topic.
_STOP = """
    的 了 是 在 我 我们 你 你们 他 他们 她 它 这 那 有 和 与 及 以及 也 都 就 而 但 但是 并 或 或者 被 把 对 于
    从 到 给 让 向 等 等等 一个 一些 什么 怎么 怎么办 为什么 如何 请 请问 您好 你好 谢谢 感谢 希望 问题 反映 现在
    目前 已经 没有 不 没 能 能否 会 要 可以 这个 那个 这些 那些 这样 因为 所以 如果 还 还是 又 很 非常 以 之 其 上
    下 中 后 前 时 时候 年 月 日 号 领导 相关 部门 有关 政府 尊敬 您 情况 进行 个 里 多 一直 自己 就是 可是 而且
    然后 由于 关于 对于 通过 其中 我家 本人 大家 能够 应该 需要 是否 一下 之后 之前 期间 今年 去年 每天 已 再 还有
"""
STOP_WORDS = frozenset(_STOP.split())
_ANON_PLACE = re.compile(r"^[A-Z]\d*[市区县州镇]?$")  # the data set's anonymised places: A市, A3区, A7县
_KEEP = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]")


def tokenize(text: str) -> list[str]:
    """jieba precise-mode words of two or more characters, without stop words, numbers or anonymised places."""
    out: list[str] = []
    intern = sys.intern  # one object per distinct word across the cached cases, not per occurrence
    for han_only, words in segmenter().blocks(text or ""):
        if han_only:  # Chinese characters alone: nothing to strip, lower or recognise as a number or a place
            out.extend(intern(w) for w in words if len(w) >= 2 and w not in STOP_WORDS)
            continue
        for word in words:
            word = word.strip().lower()
            if len(word) < 2 or word in STOP_WORDS or not _KEEP.search(word) or _ANON_PLACE.match(word.upper()):
                continue
            out.append(intern(word))
    return out


@lru_cache(maxsize=8192)  # above the detection window's 5,000 cases: a detection worker tokenises each case once
def _cached_tokens(text: str) -> tuple[str, ...]:
    return tuple(tokenize(text))


def tokens(text: str) -> tuple[str, ...]:
    """``tokenize`` with a cache: the same case text is tokenised once per process."""
    return _cached_tokens(text or "")


def document_frequencies(docs: Iterable[Sequence[str]]) -> tuple[Counter, int]:
    df: Counter = Counter()
    n = 0
    for doc in docs:
        df.update(set(doc))
        n += 1
    return df, n


def idf_table(df: Mapping[str, int], n: int) -> dict[str, float]:
    """Smoothed idf, ``ln((1 + n) / (1 + df)) + 1``, as scikit-learn computes it."""
    return {term: math.log((1 + n) / (1 + d)) + 1 for term, d in df.items()}


def unseen_idf(n: int) -> float:
    """The idf of a term the table has never seen (document frequency 0)."""
    return math.log(1 + n) + 1


def tfidf(doc: Sequence[str], idf: Mapping[str, float], default_idf: float) -> dict[str, float]:
    """L2-normalised TF-IDF with sublinear tf (``1 + ln tf``)."""
    counts = Counter(doc)
    vec = {t: (1 + math.log(c)) * idf.get(t, default_idf) for t, c in counts.items()}
    norm = math.sqrt(sum(w * w for w in vec.values()))
    return {t: w / norm for t, w in vec.items()} if norm else {}


def cosine(a: Mapping[str, float], b: Mapping[str, float], common: Iterable[str] | None = None) -> float:
    """Cosine of two L2-normalised sparse vectors (their dot product). ``common``, their shared terms, is best
    found as the intersection of two frozensets kept beside the vectors: that walks the smaller one, where
    ``a.keys() & b.keys()`` first copies ``a``'s keys."""
    if common is None:
        common = a.keys() & b.keys()
    # the products run in C; fsum is exact, so the set's order cannot change the result
    return math.fsum(map(mul, map(a.__getitem__, common), map(b.__getitem__, common)))


def vectorize(docs: Sequence[Sequence[str]], idf: Mapping[str, float] | None = None) -> list[dict[str, float]]:
    """TF-IDF vectors of ``docs``; the idf is fitted on ``docs`` themselves unless given."""
    if idf is None:
        df, n = document_frequencies(docs)
        idf, default = idf_table(df, n), unseen_idf(n)
    else:
        default = max(idf.values(), default=1.0)
    return [tfidf(doc, idf, default) for doc in docs]


def similar_pairs(vectors: Sequence[Mapping[str, float]], threshold: float) -> list[tuple[int, int, float]]:
    """Every pair ``(i, j, cos)`` with ``i < j`` and cosine >= ``threshold``, through an inverted index."""
    postings: dict[str, list[tuple[int, float]]] = {}
    pairs: list[tuple[int, int, float]] = []
    for j, vec in enumerate(vectors):
        acc: dict[int, float] = {}
        for term, w in vec.items():
            plist = postings.get(term)
            if plist:
                for i, wi in plist:
                    acc[i] = acc.get(i, 0.0) + w * wi
            else:
                plist = postings[term] = []
            plist.append((j, w))
        pairs.extend((i, j, s) for i, s in acc.items() if s >= threshold)
    return pairs


def top_terms(vectors: Iterable[Mapping[str, float]], k: int = 5) -> list[str]:
    """The ``k`` heaviest terms of the vectors' sum: the keywords of a cluster."""
    total: Counter = Counter()
    for vec in vectors:
        total.update(vec)
    return [t for t, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
