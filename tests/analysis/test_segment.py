"""The compact segmenter cuts exactly as jieba does, from a dictionary cached between processes."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import jieba
import pytest

from dispatch.analysis import segment

MESSAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "messages" / "messages_4326.csv"

ODD = [
    "",
    "   ",
    "路灯不亮",
    "A3区联丰路米兰春天G2栋320号，WiFi信号差，5G基站呢？",
    "小区门口占道经营，行人只能走机动车道！！！",
    "12345热线转来：电动车充电桩apply失败 error 500",
    "龘靐齉齾爩鱻麤",  # characters jieba's dictionary does not hold: the HMM decides
    "中华人民共和国国务院总理李强在人民大会堂会见外宾",
]


@pytest.fixture(scope="module")
def reference() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def test_the_segmenter_cuts_real_messages_exactly_as_jieba(reference):
    """Whole texts and block by block, through jieba-rs where it is used and the fused pass elsewhere."""
    with MESSAGES.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    texts = [f"{r['留言主题']} {r['留言详情']}" for r in rows[::4]] + ODD
    mine = segment.segmenter()
    differ, by_block = [], []
    for t in texts:
        theirs = reference.lcut(t)
        if mine.lcut(t) != theirs:
            differ.append(t)
        if [w for _, words in mine.blocks(t) for w in words] != theirs:  # what tokenize reads
            by_block.append(t)
    assert not differ, differ[:3]
    assert not by_block, by_block[:3]
    assert len(texts) > 1000


def test_a_dictionary_is_parsed_as_jieba_parses_it(tmp_path, reference):
    words = tmp_path / "dict.txt"
    # a repeated word keeps its last frequency; a word of frequency 0 is only a prefix; tags are ignored
    words.write_text("商量 50 v\n有事 30\n有事好商量 5 l\n好 40\n商 0\n量 3\n有事 20\n", encoding="utf-8")
    small = segment.Dictionary.build(words)
    assert set(small.trie.keys()) == {"商量", "有事", "有事好商量", "好", "量"}
    mine, theirs = segment.Segmenter(small), jieba.Tokenizer(str(words))
    for text in ("有事好商量", "有事好好商量量", "大家有事好商量，商商量量"):
        assert mine.lcut(text) == theirs.lcut(text)
    assert small.get("商") is None and small.get("商量") == 1


def test_the_dictionary_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path):
    words = tmp_path / "dict.txt"
    words.write_text("商量 50\n有事 30\n好 40\n", encoding="utf-8")
    first = segment.Dictionary.load(words, cache_dir=tmp_path)
    cached = sorted(p.name for p in tmp_path.glob("shangliang-dict-*"))
    assert [Path(n).suffix for n in cached] == [".logp", ".trie"]

    again = segment.Dictionary.load(words, cache_dir=tmp_path)
    assert list(again.logp) == list(first.logp) and again.unknown == first.unknown
    assert again.max_len == first.max_len == 2

    logp = next(tmp_path.glob("*.logp"))
    logp.write_bytes(logp.read_bytes()[:-8])  # truncated
    rebuilt = segment.Dictionary.load(words, cache_dir=tmp_path)
    assert list(rebuilt.logp) == list(first.logp)
    assert len(logp.read_bytes()) == 8 * (len(first.logp) + 2)

    words.write_text("商量 50\n有事 30\n好 40\n事好 7\n", encoding="utf-8")  # a changed dictionary: a new cache
    assert "事好" in segment.Dictionary.load(words, cache_dir=tmp_path).trie
