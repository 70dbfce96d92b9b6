"""Tokenizers: text <-> lists of integer token ids.

A language model never sees text, only ids in `range(vocab_size)`. Two tokenizers:

- `CharTokenizer`: one token per character (the classic "char-level" model).
- `WordTokenizer`: one token per whitespace-separated word, so that
  `"<bos> I work , you work , he"` is exactly 8 tokens.

Both share one convention for the special token `<bos>` (beginning of sequence):

    <bos> is always id 0; the ordinary tokens follow, sorted, as ids 1, 2, ...

`<bos>` also marks the END of a document, as in Karpathy's microgpt: a document is
encoded as `[0] + ids + [0]` (`encode_document`). Training on that teaches the
model to start a document after `<bos>` and to emit `<bos>` when it is done, so a
sampler can stop there. One token for both jobs keeps the vocabulary small.

A tokenizer is saved as a small JSON-safe dict (`to_dict`) and rebuilt exactly by
`tokenizer_from_dict`; the dict is `{"type": "char" | "word", "vocab": [...]}` where
`vocab[i]` is the token with id `i` (so `vocab[0] == "<bos>"`).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ["BOS", "BOS_ID", "TOKENIZERS", "Tokenizer", "CharTokenizer", "WordTokenizer",
           "tokenizer_from_dict"]

BOS = "<bos>"
BOS_ID = 0


# The kinds a user can choose by name (`minigpt train --tokenizer`).
TOKENIZERS = ("char", "word")


def _unknown_message(what: str, unknown: Iterable[str], vocab_size: int) -> str:
    # repr() makes spaces, tabs and newlines visible in the message.
    names = ", ".join(repr(u) for u in unknown)
    return f"unknown {what} not in the vocabulary (size {vocab_size}): {names}"


def _first_occurrences(items: Iterable[str], known: Dict[str, int]) -> List[str]:
    """The items not in `known`, each once, in order of first appearance."""
    seen: Dict[str, None] = {}
    for item in items:
        if item not in known:
            seen.setdefault(item, None)
    return list(seen)


class Tokenizer:
    """Shared machinery: the id <-> token tables, bos handling, saving, equality.

    Subclasses set `kind` and implement `_split(text) -> List[str]` (text to tokens)
    and `_join(tokens) -> str` (tokens back to text).
    """

    kind = ""           # 'char' or 'word': the `type` field of `to_dict`
    _default_bos = ""   # how `decode` renders <bos> unless told otherwise

    def __init__(self, tokens: Iterable[str]):
        """`tokens`: the ordinary tokens in id order (they get ids 1, 2, ...).

        `<bos>` is added as id 0 and must not be listed. Raises ValueError on a
        duplicate or on a token this kind of tokenizer cannot hold.
        """
        ordinary = list(tokens)
        seen = set()
        for tok in ordinary:
            self._check_token(tok)
            if tok in seen:
                raise ValueError(f"duplicate token {tok!r} in the vocabulary")
            seen.add(tok)
        self._tokens: Tuple[str, ...] = (BOS,) + tuple(ordinary)
        self._ids: Dict[str, int] = {tok: i for i, tok in enumerate(self._tokens)}

    # -- what subclasses provide ---------------------------------------------------
    def _check_token(self, tok: Any) -> None:
        if not isinstance(tok, str) or tok == "":
            raise ValueError(f"a token must be a non-empty string, got {tok!r}")
        if tok == BOS:
            raise ValueError(f"duplicate token {BOS!r}: the special token is always id {BOS_ID} "
                             "and is added automatically")

    def _split(self, text: str) -> List[str]:
        raise NotImplementedError

    def _join(self, tokens: List[str]) -> str:
        raise NotImplementedError

    # -- the vocabulary ------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids, `<bos>` included; every id is in `range(vocab_size)`."""
        return len(self._tokens)

    @property
    def tokens(self) -> Tuple[str, ...]:
        """All tokens in id order: `tokens[i]` is the token of id `i`; `tokens[0]` is `<bos>`."""
        return self._tokens

    @property
    def bos_id(self) -> int:
        """The id of `<bos>` (always 0), which also marks the end of a document."""
        return BOS_ID

    def token_to_id(self, token: str) -> int:
        """The id of one token; ValueError if it is not in the vocabulary."""
        if token not in self._ids:
            raise ValueError(_unknown_message("token", [token], self.vocab_size))
        return self._ids[token]

    # -- encoding ------------------------------------------------------------------
    def encode(self, text: str) -> List[int]:
        """Text -> list of ids. Raises ValueError naming every unknown piece."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        pieces = self._split(text)
        unknown = _first_occurrences(pieces, self._ids)
        if unknown:
            what = "characters" if self.kind == "char" else "words"
            raise ValueError(_unknown_message(what, unknown, self.vocab_size) + self._hint(pieces))
        return [self._ids[p] for p in pieces]

    def _hint(self, pieces: List[str]) -> str:
        """More to say about unknown pieces (appended to the message), or ''."""
        return ""

    def encode_document(self, doc: str) -> List[int]:
        """One training document: `[bos] + encode(doc) + [bos]`, length len(encode(doc)) + 2."""
        return [BOS_ID] + self.encode(doc) + [BOS_ID]

    def decode(self, ids: Sequence[int], bos: Optional[str] = None) -> str:
        """List of ids -> text. `bos` is what `<bos>` becomes (default: see the subclass).

        With `bos=""` the `<bos>` tokens are dropped. An id outside
        `range(vocab_size)` raises ValueError naming it.
        """
        render = self._default_bos if bos is None else bos
        pieces = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i!r} is outside the vocabulary "
                                 f"(ids 0..{self.vocab_size - 1})")
            if i == BOS_ID:
                if render:
                    pieces.append(render)
            else:
                pieces.append(self._tokens[i])
        return self._join(pieces)

    # -- saving, comparing, printing -----------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe description: `{"type": kind, "vocab": [token of id 0, id 1, ...]}`."""
        return {"type": self.kind, "vocab": list(self._tokens)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return self.kind == other.kind and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash((self.kind, self._tokens))

    def __repr__(self) -> str:
        shown = ", ".join(repr(t) for t in self._tokens[:8])
        more = ", ..." if self.vocab_size > 8 else ""
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, tokens=[{shown}{more}])"


class CharTokenizer(Tokenizer):
    """One token per character; `<bos>` is id 0 and characters are ids 1.. in sorted order.

    `encode` treats every character of the text as a token, so the text "<bos>"
    is five characters here, never the special token; `<bos>` only enters through
    `encode_document`. `decode` drops `<bos>` by default (`bos="\\n"` puts each
    document on its own line), so `decode(encode(s)) == s`.
    """

    kind = "char"
    _default_bos = ""

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """Vocabulary = the sorted unique characters of `text`, plus `<bos>`."""
        return cls(sorted(set(text)))

    @classmethod
    def from_documents(cls, docs: Iterable[str]) -> "CharTokenizer":
        """Vocabulary = the sorted unique characters of all documents, plus `<bos>`."""
        chars = set()
        for doc in docs:
            chars.update(doc)
        return cls(sorted(chars))

    def _check_token(self, tok: Any) -> None:
        super()._check_token(tok)
        if len(tok) != 1:
            raise ValueError(f"a char tokenizer token must be one character, got {tok!r}")

    def _split(self, text: str) -> List[str]:
        return list(text)

    def _join(self, tokens: List[str]) -> str:
        return "".join(tokens)


class WordTokenizer(Tokenizer):
    """One token per whitespace-separated word; `<bos>` is id 0, words are ids 1.. sorted.

    `encode` splits on any run of whitespace; the word `<bos>` written in the
    text is the special token, so `encode("<bos> I work , you work , he")` is 8 ids
    starting with 0. `decode` joins with single spaces and writes `<bos>` back as
    the word "<bos>" by default (`bos=""` drops it), so `decode(encode(s)) == s`
    for any text already written with single spaces.
    """

    kind = "word"
    _default_bos = BOS

    @classmethod
    def from_documents(cls, docs: Iterable[str]) -> "WordTokenizer":
        """Vocabulary = the sorted unique words of all documents, plus `<bos>`."""
        words = set()
        for doc in docs:
            words.update(doc.split())
        words.discard(BOS)  # written in the text, it is the special token
        return cls(sorted(words))

    @classmethod
    def from_text(cls, text: str) -> "WordTokenizer":
        """Vocabulary = the sorted unique words of `text`, plus `<bos>`."""
        return cls.from_documents([text])

    def _check_token(self, tok: Any) -> None:
        super()._check_token(tok)
        if any(ch.isspace() for ch in tok):
            raise ValueError(f"a word token cannot contain whitespace, got {tok!r}")

    def _split(self, text: str) -> List[str]:
        return text.split()

    def _hint(self, words: List[str]) -> str:
        """'work,' is no word of a vocabulary that has 'work' and ',': say how to write it."""
        fixed: List[str] = []
        for word in words:
            parts = _WORD_OR_MARK.findall(word)
            split = word not in self._ids and len(parts) > 1 and all(p in self._ids for p in parts)
            fixed.extend(parts if split else [word])
        if fixed == words:
            return ""
        return f"; punctuation is a token of its own, with spaces around it: write {' '.join(fixed)!r}"

    def _join(self, tokens: List[str]) -> str:
        return " ".join(tokens)


_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")  # a run of letters or digits, or one punctuation mark
_KINDS = {"char": CharTokenizer, "word": WordTokenizer}


def tokenizer_from_dict(d: Dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output (e.g. after a JSON round trip).

    Raises ValueError, saying what is wrong, when `d` is not a dict, has a missing
    or extra field, an unknown `type`, a `vocab` that is not a list of strings
    starting with `<bos>`, or duplicate tokens.
    """
    if not isinstance(d, dict):
        raise ValueError(f"tokenizer description must be a dict, got {type(d).__name__}")
    missing = [k for k in ("type", "vocab") if k not in d]
    if missing:
        raise ValueError(f"tokenizer description is missing field(s): {', '.join(missing)}")
    extra = sorted(str(k) for k in d if k not in ("type", "vocab"))
    if extra:
        raise ValueError(f"tokenizer description has unknown field(s): {', '.join(extra)}")
    kind, vocab = d["type"], d["vocab"]
    if kind not in _KINDS:
        raise ValueError(f"unknown tokenizer type {kind!r}; expected 'char' or 'word'")
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise ValueError("tokenizer 'vocab' must be a list of strings")
    if not vocab or vocab[0] != BOS:
        raise ValueError(f"tokenizer 'vocab' must start with {BOS!r} (id {BOS_ID})")
    return _KINDS[kind](vocab[1:])  # the constructor rejects duplicates and bad tokens
