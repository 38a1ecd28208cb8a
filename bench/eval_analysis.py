"""The hotspot and category figures of docs/analysis.md, from ../shared/data/messages/ (read at run time).

Hotspots: the 4,326 board messages have no coordinates, so this scores the text-and-time part of the hotspot
rule. Ground truth groups are the messages whose subject names the same recurring estate, company or case,
found in the subjects programmatically (see ``named_groups``); all messages are clustered by the same rule the
API uses (TF-IDF cosine over jieba tokens >= threshold, single link) and "same cluster" is scored pairwise on
the messages of those groups: precision = pairs in one cluster that share a group / pairs in one cluster,
recall = pairs sharing a group that are in one cluster / pairs sharing a group.

Categories: multinomial naive Bayes on labeled_495.csv (一级分类), 80/20 stratified split with a fixed seed,
against a nearest-centroid TF-IDF baseline; plus 5-fold stratified cross-validation.

    .venv/bin/python bench/eval_analysis.py                 # print the figures (markdown)
    .venv/bin/python bench/eval_analysis.py --write-model   # also write dispatch/analysis/data/category_model.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import random
import re
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jieba  # noqa: E402

from dispatch.analysis import classify  # noqa: E402
from dispatch.analysis import hotspots as hs  # noqa: E402
from dispatch.analysis import text as tx  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "messages"
SEED = 20240501
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
WINDOW_DAYS = hs.DEFAULT_WINDOW_DAYS

# ------------------------------------------------------------------------------------------------ reading


def parse_time(value: str) -> datetime:
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            pass
    raise ValueError(f"unknown time format: {value!r}")


def read_messages(path: Path = DATA / "messages_4326.csv") -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [
            {
                "id": int(r["留言编号"]),
                "subject": r["留言主题"],
                "text": f"{r['留言主题']} {r['留言详情']}",
                "at": parse_time(r["留言时间"]),
            }
            for r in csv.DictReader(fh)
        ]


def tokenize_all(texts: list[str], workers: int = 2) -> list[list[str]]:
    """jieba over all texts, in ``workers`` processes when there are many (jieba is single-threaded)."""
    jieba.initialize()
    if workers <= 1 or len(texts) < 1000:
        return [tx.tokenize(t) for t in texts]
    chunk = math.ceil(len(texts) / workers)
    with ProcessPoolExecutor(workers) as pool:
        parts = pool.map(_tokenize_chunk, [texts[i : i + chunk] for i in range(0, len(texts), chunk)])
        return [doc for part in parts for doc in part]


def _tokenize_chunk(texts: list[str]) -> list[list[str]]:
    return [tx.tokenize(t) for t in texts]


# ------------------------------------------------------------------------------------------------ ground truth

# Words that make a subject n-gram a generic complaint rather than a name.
_GENERIC_WORDS = "的 了 和 与 及 在 对 是 请 吗 等 问题 建议 咨询 反映 投诉 关于 小区 附近 严重 扰民 什么 时候"
_GENERIC = frozenset(_GENERIC_WORDS.split())
_ADMIN_OR_ROAD = re.compile(r"(街道|省|区|县|镇|路|线)$")
_ANON = re.compile(r"[A-Z]\d*[市区县]")
RARE_FREQ = 10  # a jieba dictionary frequency below this (or absent) marks a token as part of a proper name
WORD_FREQ = 3  # ... and the whole candidate must not be a dictionary word of this frequency or more
MIN_GROUP = 8
BURST_DAYS = 60
MIN_BURST = 0.5


def named_groups(messages: list[dict]) -> dict[str, list[int]]:
    """Recurring names in the subjects (estates, companies, schemes), each with the indexes of its messages.

    A candidate is a run of 1-4 jieba tokens of a subject (anonymised places removed), 3-6 characters with a
    Chinese character, not itself a common dictionary word, with at least one token rare in or absent from
    jieba's dictionary (a proper name), no generic word, not ending like an administrative unit, road or line.
    Kept: candidates in >= MIN_GROUP subjects that are maximal (no longer candidate covers 70 % of its
    subjects) and bursty (>= MIN_BURST of their messages within BURST_DAYS days: a named estate or case
    draws messages together; a generic topic is spread over the year). A message naming two groups is left out of both.
    """
    freq = jieba.dt.FREQ if jieba.dt.initialized else (jieba.initialize() or jieba.dt.FREQ)
    where: dict[str, set[int]] = defaultdict(set)
    for k, m in enumerate(messages):
        toks = [t for t in jieba.lcut(_ANON.sub(" ", m["subject"])) if t.strip()]
        for n in (1, 2, 3, 4):
            for i in range(len(toks) - n + 1):
                part = toks[i : i + n]
                g = "".join(part)
                if not (3 <= len(g) <= 6 and re.fullmatch(r"[\u4e00-\u9fffA-Za-z0-9]+", g)):
                    continue
                if not re.search(r"[\u4e00-\u9fff]", g) or _ADMIN_OR_ROAD.search(g):
                    continue
                if freq.get(g, 0) >= WORD_FREQ:
                    continue
                if any(p in _GENERIC for p in part) or not any(
                    len(p) >= 2 and freq.get(p, 0) < RARE_FREQ for p in part
                ):
                    continue
                where[g].add(k)
    cand = {g: ks for g, ks in where.items() if len(ks) >= MIN_GROUP}
    kept = {}
    for g, ks in cand.items():
        if any(g in h and h != g and len(hk) >= 0.7 * len(ks) for h, hk in cand.items()):
            continue
        times = sorted(messages[k]["at"] for k in ks)
        burst = max(sum(1 for u in times if 0 <= (u - t).days <= BURST_DAYS) for t in times)
        if burst / len(ks) >= MIN_BURST:
            kept[g] = ks
    owners = Counter(k for ks in kept.values() for k in ks)
    groups = {g: sorted(k for k in ks if owners[k] == 1) for g, ks in kept.items()}
    return {g: ks for g, ks in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])) if len(ks) >= 3}


def pairwise(clusters: list[list[int]], groups: dict[str, list[int]]) -> dict:
    label = {k: g for g, ks in groups.items() for k in ks}
    where = {k: c for c, members in enumerate(clusters) for k in members}
    same_cluster = same_group = both = 0
    for a, b in combinations(sorted(label), 2):
        sc, sg = where[a] == where[b], label[a] == label[b]
        same_cluster += sc
        same_group += sg
        both += sc and sg
    return {
        "pairs_same_cluster": same_cluster,
        "pairs_same_group": same_group,
        "precision": both / same_cluster if same_cluster else float("nan"),
        "recall": both / same_group if same_group else float("nan"),
    }


def evaluate_hotspots(distractors: int | None = None, thresholds=THRESHOLDS, workers: int = 2) -> dict:
    """Pairwise precision/recall on the named groups, text only and text + time window, per threshold.

    ``distractors``: keep only that many (seeded sample) of the messages outside the groups (a quick run).
    """
    messages = read_messages()
    groups = named_groups(messages)
    if distractors is not None:
        inside = {k for ks in groups.values() for k in ks}
        others = [k for k in range(len(messages)) if k not in inside]
        keep = sorted(inside | set(random.Random(SEED).sample(others, min(distractors, len(others)))))
        remap = {old: new for new, old in enumerate(keep)}
        messages = [messages[k] for k in keep]
        groups = {g: [remap[k] for k in ks] for g, ks in groups.items()}
    docs = tokenize_all([m["text"] for m in messages], workers)
    vectors = tx.vectorize(docs)
    items = [hs.Item(id=m["id"], text=m["text"], at=m["at"]) for m in messages]
    pairs = tx.similar_pairs(vectors, min(thresholds))
    rows = []
    for threshold in thresholds:
        for window in (None, WINDOW_DAYS):
            clusters = hs.cluster(
                items, threshold=threshold, window_days=window, radius_m=None, vectors=vectors, pairs=pairs
            )
            big = [c for c in clusters if len(c) >= hs.DEFAULT_MIN_SIZE]
            rows.append(
                {"threshold": threshold, "window_days": window, "clusters_ge3": len(big), **pairwise(clusters, groups)}
            )
    return {"messages": len(messages), "groups": {g: len(ks) for g, ks in groups.items()}, "rows": rows}


# ------------------------------------------------------------------------------------------------ categories


def stratified_split(labels: list[str], test_share: float = 0.2, seed: int = SEED) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    by: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(labels):
        by[c].append(i)
    train, test = [], []
    for c in sorted(by):
        ks = by[c][:]
        rng.shuffle(ks)
        n = round(len(ks) * test_share)
        test += ks[:n]
        train += ks[n:]
    return sorted(train), sorted(test)


def stratified_folds(labels: list[str], k: int = 5, seed: int = SEED) -> list[list[int]]:
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    by: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(labels):
        by[c].append(i)
    for c in sorted(by):
        ks = by[c][:]
        rng.shuffle(ks)
        for j, i in enumerate(ks):
            folds[j % k].append(i)
    return folds


def centroid_predict(train_docs, train_labels, test_docs) -> list[str]:
    df, n = tx.document_frequencies(train_docs)
    idf = tx.idf_table(df, n)
    vecs = [tx.tfidf(d, idf, tx.unseen_idf(n)) for d in train_docs]
    sums: dict[str, Counter] = defaultdict(Counter)
    for v, c in zip(vecs, train_labels, strict=True):
        sums[c].update(v)
    cents = {}
    for c, s in sums.items():
        norm = math.sqrt(sum(w * w for w in s.values()))
        cents[c] = {t: w / norm for t, w in s.items()}
    out = []
    for d in test_docs:
        v = tx.tfidf(d, idf, tx.unseen_idf(n))
        out.append(max(sorted(cents), key=lambda c: tx.cosine(v, cents[c])))
    return out


def evaluate_categories(alpha: float = classify.DEFAULT_ALPHA) -> dict:
    rows = classify.read_labeled()
    docs = [tx.tokenize(t) for t, _ in rows]
    labels = [c for _, c in rows]
    train, test = stratified_split(labels)

    def nb_acc(tr, te, a=alpha):
        model = classify.NaiveBayes(classify.train([docs[i] for i in tr], [labels[i] for i in tr], a))
        preds = [model.scores(docs[i]) for i in te]
        top1 = sum(p[0][0] == labels[i] for p, i in zip(preds, te, strict=True)) / len(te)
        top3 = sum(labels[i] in [c for c, _ in p[:3]] for p, i in zip(preds, te, strict=True)) / len(te)
        return top1, top3, [p[0][0] for p in preds]

    top1, top3, preds = nb_acc(train, test)
    per_class = {}
    for c in sorted(set(labels)):
        idx = [j for j, i in enumerate(test) if labels[i] == c]
        per_class[c] = {
            "all": labels.count(c),
            "train": sum(labels[i] == c for i in train),
            "test": len(idx),
            "test_correct": sum(preds[j] == c for j in idx),
        }
    cent = centroid_predict([docs[i] for i in train], [labels[i] for i in train], [docs[i] for i in test])
    cent_acc = sum(p == labels[i] for p, i in zip(cent, test, strict=True)) / len(test)
    folds = stratified_folds(labels)
    cv = []
    for f in folds:
        fs = set(f)
        cv.append(nb_acc([i for i in range(len(labels)) if i not in fs], sorted(fs))[0])
    alphas = {a: nb_acc(train, test, a)[0] for a in (0.01, 0.1, 0.5, 1.0)}
    return {
        "messages": len(labels),
        "train": len(train),
        "test": len(test),
        "alpha": alpha,
        "nb_top1": top1,
        "nb_top3": top3,
        "centroid_top1": cent_acc,
        "cv5_mean": sum(cv) / len(cv),
        "cv5": cv,
        "alphas": alphas,
        "per_class": per_class,
        "model": classify.train(docs, labels, alpha),
    }


# ------------------------------------------------------------------------------------------------ report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-model", action="store_true", help="write dispatch/analysis/data/category_model.json")
    ap.add_argument("--workers", type=int, default=2, help="processes for jieba (default 2)")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"shared data not found: {DATA}", file=sys.stderr)
        return 2
    jieba.setLogLevel(logging.WARNING)
    t0 = time.perf_counter()
    h = evaluate_hotspots(workers=args.workers)
    print('## Hotspots: pairwise "same cluster" on named subject groups\n')
    print(
        f"{h['messages']} messages; {len(h['groups'])} groups, {sum(h['groups'].values())} messages in them "
        f"(single link, TF-IDF cosine over jieba tokens, idf fitted on all messages, clusters of any size "
        f"scored; place rule off: no coordinates)\n"
    )
    print("| group (subject names) | messages |\n|---|---:|")
    for g, n in h["groups"].items():
        print(f"| {g} | {n} |")
    print(
        "\n| threshold | time window | precision | recall | pairs in one cluster | pairs in one group "
        "| clusters ≥ 3 |\n|---:|---|---:|---:|---:|---:|---:|"
    )
    for r in h["rows"]:
        win = f"{r['window_days']:g} days" if r["window_days"] else "none"
        print(
            f"| {r['threshold']:.2f} | {win} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['pairs_same_cluster']} | {r['pairs_same_group']} | {r['clusters_ge3']} |"
        )
    c = evaluate_categories()
    print("\n## Category suggestion (一级分类), labeled_495.csv\n")
    print(
        f"multinomial naive Bayes, alpha {c['alpha']}, stratified 80/20 split, seed {SEED}: "
        f"train {c['train']}, test {c['test']}\n"
    )
    print("| model | accuracy |\n|---|---:|")
    print(f"| naive Bayes, top-1 (held out) | {c['nb_top1']:.3f} |")
    print(f"| naive Bayes, right class in top 3 (held out) | {c['nb_top3']:.3f} |")
    print(f"| nearest TF-IDF centroid, top-1 (held out) | {c['centroid_top1']:.3f} |")
    print(f"| naive Bayes, top-1, 5-fold stratified CV mean | {c['cv5_mean']:.3f} |")
    print("\nalpha (held-out top-1): " + ", ".join(f"{a:g}: {v:.3f}" for a, v in c["alphas"].items()))
    print("\n| class | messages | train | test | test correct |\n|---|---:|---:|---:|---:|")
    for cls, r in c["per_class"].items():
        print(f"| {cls} | {r['all']} | {r['train']} | {r['test']} | {r['test_correct']} |")
    if args.write_model:
        classify.MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
        classify.MODEL_FILE.write_text(
            json.dumps(c["model"], ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n",
            encoding="utf-8",
        )
        print(
            f"\nwrote {classify.MODEL_FILE.relative_to(ROOT)} ({classify.MODEL_FILE.stat().st_size} bytes, "
            f"{c['model']['vocab_size']} terms)"
        )
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
