"""jieba's precise-mode segmentation over a compact dictionary: the same words in about a tenth of the memory.

jieba keeps its dictionary as a Python dict of every word and every prefix of a word (about 500,000 strings,
62 MiB in each process that segments). Here the words live in a MARISA trie and their log-probabilities in a
flat array (a few MiB, built once from jieba's own ``dict.txt`` and cached in the temp directory, then memory
mapped). ``Segmenter`` is jieba's ``Tokenizer`` with only the two steps that read the dictionary replaced:
the word graph (``get_DAG``: the words that start at each position, one trie walk per position) and the best
route through it (``calc``). Both compute exactly what jieba computes, in the same floating-point order, so
``Segmenter().lcut(text)`` equals ``jieba.lcut(text)`` (a test checks it over real messages); the HMM for
words not in the dictionary is jieba's. Only precise mode (``cut(text, HMM=True)``, the default) is supported.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
import threading
from array import array
from importlib.metadata import version
from pathlib import Path

import marisa_trie

# jieba reads its dictionary through pkg_resources when it can import it, which costs 12 MiB of resident memory
# for one file read; without it, jieba opens the file next to its module (the same file)
_pkg_resources = sys.modules.get("pkg_resources", ...)
sys.modules["pkg_resources"] = None  # type: ignore[assignment]
try:
    import jieba
finally:
    if _pkg_resources is ...:
        del sys.modules["pkg_resources"]
    else:
        sys.modules["pkg_resources"] = _pkg_resources

DICT_PATH = Path(jieba.__file__).with_name("dict.txt")
FORMAT = 2  # bump when the cached files' layout changes


class Dictionary:
    """The words of a jieba dictionary with a positive frequency, and ``log(freq) - log(total)`` of each."""

    def __init__(self, trie: marisa_trie.Trie, logp: array, unknown: float, max_len: int) -> None:
        self.trie = trie
        self.logp = logp  # indexed by the trie's key id
        self.unknown = unknown  # a single character that is no word counts as frequency 1
        self.max_len = max_len  # the longest word: how far a trie walk from one position can reach

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
        for word, count in freq.items():
            if count > 0:
                logp[trie.key_id(word)] = math.log(count) - logtotal
        return cls(trie, logp, math.log(1) - logtotal, max(map(len, trie.iterkeys()), default=1))

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
                    return cls(trie, logp, unknown, max_len)
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
