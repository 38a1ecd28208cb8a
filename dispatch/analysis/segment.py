"""jieba's precise-mode segmentation over a compact dictionary: the same words in a fraction of the memory and
about a third of the time.

jieba keeps its dictionary as a Python dict of every word and every prefix of a word (about 500,000 strings,
62 MiB in each process that segments). Here the words live in a MARISA trie and their log-probabilities in a
flat array (a few MiB, built once from jieba's own ``dict.txt`` and cached in the temp directory, then memory
mapped). ``Segmenter`` is jieba's ``Tokenizer`` with the steps that read the dictionary replaced: the word
graph (``get_DAG``) and the best route through it (``calc``), fused into one pass for a block of text. They
compute exactly what jieba computes, in the same floating-point order, so ``Segmenter().lcut(text)`` equals
``jieba.lcut(text)`` (a test checks it over real messages); the HMM for words not in the dictionary is
jieba's. A block of Chinese characters, ASCII letters and digits (97 % of the text of real messages) goes
to jieba-rs (``rjieba``, about 30 MiB for its copy of the same dictionary), which cuts those exactly as jieba
does and twenty times faster. Only precise mode (``cut(text, HMM=True)``, the default) is supported.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import marisa_trie

# jieba reads its dictionary through pkg_resources when it can import it, which costs 12 MiB of resident memory
# for one file read; without it, jieba opens the file next to its module (the same file)
_pkg_resources = sys.modules.get("pkg_resources", ...)
sys.modules["pkg_resources"] = None  # type: ignore[assignment]
try:
    import jieba
    from jieba import finalseg
finally:
    if _pkg_resources is ...:
        del sys.modules["pkg_resources"]
    else:
        sys.modules["pkg_resources"] = _pkg_resources

DICT_PATH = Path(jieba.__file__).with_name("dict.txt")
_HAN_ONLY = re.compile("[\u4e00-\u9fd5]+")  # jieba's own range of Chinese characters
# blocks jieba-rs cuts exactly as jieba does: Chinese characters, ASCII letters and digits (jieba-rs joins
# "80-90" and "4.2.3", which jieba splits at the punctuation)
_RUST_CUTS = re.compile("[\u4e00-\u9fd5a-zA-Z0-9]+")
FORMAT = 2  # bump when the cached files' layout changes


class Dictionary:
    """The words of a jieba dictionary with a positive frequency, and ``log(freq) - log(total)`` of each."""

    def __init__(
        self, trie: marisa_trie.Trie, logp: array, unknown: float, max_len: int, path: Path | None = None
    ) -> None:
        self.trie = trie
        self.logp = logp  # indexed by the trie's key id
        self.unknown = unknown  # a single character that is no word counts as frequency 1
        self.max_len = max_len  # the longest word: how far a trie walk from one position can reach
        self.path = path  # the dict.txt it was built from

    def get(self, word: str, default: int | None = None) -> int | None:
        """Whether ``word`` is a word (jieba asks ``FREQ.get(word)`` for that): 1, else ``default``."""
        return 1 if word in self.trie else default

    @classmethod
    def build(cls, path: Path = DICT_PATH) -> Dictionary:
        """Parse ``path`` as jieba does (``word freq [tag]`` per line; a repeated word keeps its last frequency,
        every line counts in the total)."""
        freq: dict[str, int] = {}
        total = 0
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.strip().decode("utf-8")
                try:
                    word, count = line.split(" ")[:2]
                    freq[word] = int(count)
                except ValueError:
                    raise ValueError(f"invalid dictionary entry in {path} at line {lineno}: {line}") from None
                total += freq[word]
        trie = marisa_trie.Trie(w for w, c in freq.items() if c > 0)
        logtotal = math.log(total)
        logp = array("d", bytes(8 * len(trie)))
        for w, c in freq.items():
            if c > 0:
                logp[trie.key_id(w)] = math.log(c) - logtotal
        return cls(trie, logp, math.log(1) - logtotal, max(map(len, trie.iterkeys()), default=1), path)

    @classmethod
    def load(cls, path: Path = DICT_PATH, cache_dir: Path | None = None) -> Dictionary:
        """``build``, cached next to other temp files: later processes map the trie instead of parsing."""
        stat = path.stat()
        key = f"{FORMAT}:{path}:{stat.st_size}:{stat.st_mtime_ns}:{version('marisa-trie')}"
        stem = Path(cache_dir or tempfile.gettempdir()) / f"shangliang-dict-{hashlib.sha1(key.encode()).hexdigest()}"
        trie_file, logp_file = stem.with_suffix(".trie"), stem.with_suffix(".logp")
        if trie_file.exists() and logp_file.exists():
            try:
                trie = marisa_trie.Trie()
                trie.mmap(str(trie_file))
                logp = array("d", logp_file.read_bytes())  # then the unknown's log-probability and max_len
                if len(logp) == len(trie) + 2:
                    max_len, unknown = int(logp.pop()), logp.pop()
                    return cls(trie, logp, unknown, max_len, path)
            except (OSError, RuntimeError, ValueError):  # unreadable or truncated: build it again
                pass
        built = cls.build(path)
        # write then rename: a process that reads while another writes sees the old file or none
        tmp = f".{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            built.trie.save(str(trie_file) + tmp)
            tail = array("d", [built.unknown, built.max_len])
            Path(str(logp_file) + tmp).write_bytes((built.logp + tail).tobytes())
            os.replace(str(trie_file) + tmp, trie_file)
            os.replace(str(logp_file) + tmp, logp_file)
        except OSError:  # a read-only temp directory: keep the built dictionary in memory
            pass
        return built


class Segmenter(jieba.Tokenizer):
    """jieba's ``Tokenizer`` over a ``Dictionary``; use ``lcut(text)`` (precise mode with the HMM)."""

    def __init__(self, dictionary: Dictionary) -> None:
        super().__init__()
        self.words = dictionary
        self.FREQ = dictionary  # jieba's cut asks FREQ.get(run of single characters) before its HMM
        # jieba-rs carries jieba's own dictionary: it stands in only for a segmenter over that one
        self.rust_cuts = dictionary.path == DICT_PATH
        self.initialized = True

    def get_DAG(self, sentence: str) -> dict[int, list[tuple[int, float]]]:  # noqa: N802 - jieba's name
        """For each position, the last index and log-probability of every word that starts there (the single
        character at frequency 1 when none does). jieba's own DAG holds the indexes only."""
        words, logp, n = self.words, self.words.logp, self.words.max_len
        prefixes = words.trie.iter_prefixes_with_ids
        dag = {}
        for k in range(len(sentence)):
            ends = [(k + len(w) - 1, logp[i]) for w, i in prefixes(sentence[k : k + n])]
            dag[k] = ends or [(k, words.unknown)]
        return dag

    def calc(self, sentence: str, DAG: dict, route: dict) -> None:  # noqa: N803 - jieba's signature
        """jieba's dynamic programme: the most probable route from each position to the end."""
        n = len(sentence)
        route[n] = (0, 0)
        for idx in range(n - 1, -1, -1):
            route[idx] = max((lp + route[x + 1][0], x) for x, lp in DAG[idx])

    def _Tokenizer__cut_DAG(self, sentence: str) -> Iterator[str]:  # noqa: N802 - jieba's private __cut_DAG
        """jieba's precise cut of one block with the HMM, with ``get_DAG`` and ``calc`` fused into one pass from
        the end (no graph built): the same sums in the same order, and a tie goes to the longer word, as
        jieba's ``max`` over ``(probability, end)`` does. A block of Chinese characters, ASCII letters and digits
        goes to jieba-rs, which cuts those exactly as jieba does, twenty times faster
        (``tests/analysis/test_segment.py`` compares over real messages); the ``.-%_#&+`` jieba also keeps in a
        block, jieba-rs treats its own way."""
        if self.rust_cuts and _RUST_CUTS.fullmatch(sentence):
            yield from _rust()(sentence)
            return
        words = self.words
        logp, unknown, reach, known = words.logp, words.unknown, words.max_len, words.trie
        prefixes = known.iter_prefixes_with_ids
        n = len(sentence)
        best = [0.0] * (n + 1)  # log-probability of the best route from each position to the end
        stop = list(range(1, n + 2))  # where the best route's first word from each position ends
        for k in range(n - 1, -1, -1):
            top = None
            for word, i in prefixes(sentence[k : k + reach]):
                x = k + len(word)
                p = logp[i] + best[x]
                if top is None or p > top or (p == top and x > stop[k]):
                    top, stop[k] = p, x
            best[k] = unknown + best[k + 1] if top is None else top
        x, buf = 0, ""
        while x < n:
            y = stop[x]
            if y - x == 1:
                buf += sentence[x]
            else:
                if buf:
                    yield from _singles(buf, known)
                    buf = ""
                yield sentence[x:y]
            x = y
        if buf:
            yield from _singles(buf, known)

    def blocks(self, text: str) -> Iterator[tuple[bool, list[str]]]:
        """``cut(text)`` (precise, with the HMM) block by block: ``(han_only, words)``, where ``han_only`` says
        the block held Chinese characters alone, so its words need no cleaning. Joined, the words are
        ``lcut(text)``; a caller that filters words skips a generator step per word."""
        for blk in jieba.re_han_default.split(text):
            if not blk:
                continue
            if jieba.re_han_default.match(blk):
                if self.rust_cuts and _RUST_CUTS.fullmatch(blk):
                    yield _HAN_ONLY.fullmatch(blk) is not None, _rust()(blk)
                else:
                    yield False, list(self._Tokenizer__cut_DAG(blk))
            else:  # what jieba makes of the rest: whitespace runs whole, anything else character by character
                words: list[str] = []
                for x in jieba.re_skip_default.split(blk):
                    if jieba.re_skip_default.match(x):
                        words.append(x)
                    else:
                        words.extend(x)
                yield False, words


@lru_cache(maxsize=1)
def _rust() -> Callable[[str], list[str]]:
    """jieba-rs's precise cut with the HMM, imported on first use: importing ``rjieba`` loads its dictionary
    (about 33 MiB), which a process that never segments (most API processes and workers) should not carry."""
    import rjieba  # deferred on purpose, see above

    return rjieba.cut


@lru_cache(maxsize=4096)
def _hmm(run: str) -> tuple[str, ...]:
    """jieba's HMM cut of a run of characters the dictionary does not join (names, places: they recur)."""
    return tuple(finalseg.cut(run))


def _singles(run: str, known: marisa_trie.Trie) -> Iterator[str] | tuple[str, ...]:
    """What jieba makes of a run of single-character steps: one character as is, a run the dictionary holds as
    a word character by character, any other run through the HMM."""
    if len(run) == 1:
        return (run,)
    if run in known:
        return iter(run)
    return _hmm(run)


_lock = threading.Lock()
_segmenter: Segmenter | None = None


def segmenter() -> Segmenter:
    """The process's segmenter, loaded on first use."""
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                _segmenter = Segmenter(Dictionary.load())
    return _segmenter
