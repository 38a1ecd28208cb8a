"""Category suggestion: multinomial naive Bayes over jieba tokens, top-level categories (一级分类).

The model is trained on ../shared/data/messages/labeled_495.csv by ``bench/eval_analysis.py --write-model`` and
shipped as ``data/category_model.json``: class priors and per-class term counts over a vocabulary of words seen
in at least two training messages (no message text). When that file is missing the model is trained lazily
from the shared data if it is present. The suggestion never sets a case's category: an operator confirms.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from dispatch.analysis import text as tx

MODEL_FILE = Path(__file__).parent / "data" / "category_model.json"
SHARED_LABELED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "messages" / "labeled_495.csv"
DEFAULT_ALPHA = 0.1
MIN_DF = 2


class NaiveBayes:
    def __init__(self, model: dict) -> None:
        self.model = model
        self.classes: list[str] = model["classes"]
        self.alpha: float = model["alpha"]
        self.vocab_size: int = model["vocab_size"]
        n = sum(model["class_docs"].values())
        self.log_prior = {c: math.log(model["class_docs"][c] / n) for c in self.classes}
        self.counts: dict[str, dict[str, int]] = model["counts"]
        self.log_denom = {c: math.log(model["totals"][c] + self.alpha * self.vocab_size) for c in self.classes}
        self.vocab = frozenset(t for c in self.classes for t in self.counts[c])

    def scores(self, tokens: Sequence[str]) -> list[tuple[str, float]]:
        """Every class with its posterior probability, best first."""
        words = Counter(t for t in tokens if t in self.vocab)
        logp = {}
        for c in self.classes:
            counts = self.counts[c]
            s = self.log_prior[c]
            for t, k in words.items():
                s += k * (math.log(counts.get(t, 0) + self.alpha) - self.log_denom[c])
            logp[c] = s
        top = max(logp.values())
        z = sum(math.exp(v - top) for v in logp.values())
        out = [(c, math.exp(v - top) / z) for c, v in logp.items()]
        return sorted(out, key=lambda cv: (-cv[1], self.classes.index(cv[0])))

    def predict(self, tokens: Sequence[str]) -> str:
        return self.scores(tokens)[0][0]


def train(docs: Sequence[Sequence[str]], labels: Sequence[str], alpha: float = DEFAULT_ALPHA) -> dict:
    """The model's parameters: per-class document counts and term counts over terms of df >= MIN_DF."""
    df, _ = tx.document_frequencies(docs)
    vocab = {t for t, d in df.items() if d >= MIN_DF}
    classes = sorted(set(labels))
    counts: dict[str, Counter] = {c: Counter() for c in classes}
    for doc, label in zip(docs, labels, strict=True):
        counts[label].update(t for t in doc if t in vocab)
    return {
        "kind": "multinomial_nb",
        "alpha": alpha,
        "classes": classes,
        "vocab_size": len(vocab),
        "class_docs": dict(sorted(Counter(labels).items())),
        "n_docs": len(docs),
        "df": {t: df[t] for t in sorted(vocab)},
        "totals": {c: sum(counts[c].values()) for c in classes},
        "counts": {c: dict(sorted(counts[c].items())) for c in classes},
    }


def read_labeled(path: Path = SHARED_LABELED) -> list[tuple[str, str]]:
    """``(text, top-level category)`` of each labeled message: subject and details joined."""
    with path.open(encoding="utf-8") as fh:
        return [(f"{r['留言主题']} {r['留言详情']}", r["一级分类"].strip()) for r in csv.DictReader(fh)]


@lru_cache(maxsize=1)
def model() -> NaiveBayes:
    if MODEL_FILE.exists():
        return NaiveBayes(json.loads(MODEL_FILE.read_text(encoding="utf-8")))
    if SHARED_LABELED.exists():
        rows = read_labeled()
        return NaiveBayes(train([tx.tokenize(t) for t, _ in rows], [c for _, c in rows]))
    raise FileNotFoundError(f"no category model: {MODEL_FILE} (make it with bench/eval_analysis.py --write-model)")


@lru_cache(maxsize=1)
def background_idf() -> dict[str, float]:
    """Idf of the model's vocabulary over its training messages: hotspots weigh words with it, so a handful
    of cases is not left to estimate which words are common."""
    m = model().model
    return tx.idf_table(m["df"], m["n_docs"])


def suggest(text: str, k: int = 3) -> list[dict]:
    """The ``k`` likeliest top-level categories of ``text`` with their probabilities."""
    return [{"category": c, "score": round(p, 6)} for c, p in model().scores(tx.tokenize(text))[:k]]
