"""Tokenizers: round trips, the <bos> convention, errors that name the offender, saving."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigpt.tokenizers import (BOS, BOS_ID, CharTokenizer, WordTokenizer,
                                tokenizer_from_dict)

CANONICAL = "<bos> I work , you work , he"


def verb_tokenizer():
    return WordTokenizer.from_documents(["I work , you work , he works .", "she sleeps ."])


# -- CharTokenizer -----------------------------------------------------------------

def test_char_vocabulary_is_bos_then_sorted_characters():
    tok = CharTokenizer.from_text("hello world")
    assert tok.tokens == (BOS, " ", "d", "e", "h", "l", "o", "r", "w")
    assert tok.vocab_size == 9 and tok.bos_id == BOS_ID == 0
    assert tok.encode("hell") == [4, 3, 5, 5]
    assert CharTokenizer.from_documents(["hel", "lo world"]) == tok


def test_char_document_is_wrapped_in_bos_and_decode_drops_it_by_default():
    tok = CharTokenizer.from_text("abc")
    ids = tok.encode_document("cab")
    assert ids == [0, 3, 1, 2, 0]
    assert tok.decode(ids) == "cab"
    assert tok.decode(ids, bos="\n") == "\ncab\n"
    # The text "<bos>" is just characters to a char tokenizer.
    assert len(CharTokenizer.from_text("<bos>").encode("<bos>")) == 5


@given(st.data())
def test_char_round_trip_over_the_vocabulary(data):
    source = data.draw(st.text(min_size=1), label="source")
    tok = CharTokenizer.from_text(source)
    s = data.draw(st.text(alphabet=sorted(set(source))), label="s")
    ids = tok.encode(s)
    assert len(ids) == len(s)
    assert all(1 <= i < tok.vocab_size for i in ids)  # id 0 is reserved for <bos>
    assert tok.decode(ids) == s


def test_char_unknown_characters_are_all_named_with_repr():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError) as err:
        tok.encode("ab c\nxa")
    message = str(err.value)
    assert "' '" in message and "'\\n'" in message and "'x'" in message
    assert "'a'" not in message


# -- WordTokenizer -----------------------------------------------------------------

def test_canonical_sequence_is_eight_tokens_starting_with_bos():
    tok = verb_tokenizer()
    ids = tok.encode(CANONICAL)
    assert len(ids) == 8
    assert ids[0] == tok.bos_id == 0
    assert BOS_ID not in ids[1:]
    assert tok.decode(ids) == CANONICAL
    assert ids[2] == ids[5] == tok.token_to_id("work")


def test_word_vocabulary_is_bos_then_sorted_words():
    tok = verb_tokenizer()
    assert tok.tokens == (BOS, ",", ".", "I", "he", "she", "sleeps", "work", "works", "you")
    # any whitespace splits; decode joins with single spaces
    assert tok.decode(tok.encode("  I\twork\n.  ")) == "I work ."
    assert tok.decode(tok.encode_document("I work .")) == "<bos> I work . <bos>"
    assert tok.decode(tok.encode_document("I work ."), bos="") == "I work ."
    # "<bos>" written in a document is the special token, not a new word
    assert WordTokenizer.from_documents(["<bos> I work <bos>"]).tokens == (BOS, "I", "work")


words = st.text(alphabet="abcxyzIJ,.'-<>", min_size=1, max_size=6)


@given(st.lists(words, min_size=1, max_size=10), st.data())
def test_word_round_trip_over_the_vocabulary(vocab_words, data):
    tok = WordTokenizer.from_documents([" ".join(vocab_words)])
    chosen = data.draw(st.lists(st.sampled_from(vocab_words + [BOS]), max_size=12))
    s = " ".join(chosen)
    ids = tok.encode(s)
    assert len(ids) == len(chosen)
    assert tok.decode(ids) == s


def test_word_unknown_words_are_all_named():
    tok = verb_tokenizer()
    with pytest.raises(ValueError, match="'Work'.*'they'"):
        tok.encode("I Work , they work")


def test_decode_rejects_ids_outside_the_vocabulary():
    tok = verb_tokenizer()
    with pytest.raises(ValueError, match="99"):
        tok.decode([1, 99])
    with pytest.raises(ValueError, match="-1"):
        tok.decode([-1])


def test_constructor_rejects_bad_vocabularies():
    with pytest.raises(ValueError, match="duplicate"):
        WordTokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="whitespace"):
        WordTokenizer(["a b"])
    with pytest.raises(ValueError, match="one character"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="<bos>"):
        WordTokenizer(["a", BOS])


# -- saving, equality, repr --------------------------------------------------------

@pytest.mark.parametrize("tok", [
    CharTokenizer.from_text('tab\t, "quote", newline\n, é and 漢'),
    WordTokenizer.from_documents(["I work , you work , he works .", '"q" \\ é']),
    CharTokenizer.from_text(""),
])
def test_to_dict_survives_json_and_rebuilds_exactly(tok):
    d = json.loads(json.dumps(tok.to_dict()))
    assert d["type"] == tok.kind and d["vocab"][0] == BOS
    again = tokenizer_from_dict(d)
    assert type(again) is type(tok)
    assert again.tokens == tok.tokens and again == tok and hash(again) == hash(tok)


def test_kinds_and_vocabularies_decide_equality():
    assert CharTokenizer(["a", "b"]) == CharTokenizer(["a", "b"])
    assert CharTokenizer(["a", "b"]) != CharTokenizer(["b", "a"])
    assert CharTokenizer(["a", "b"]) != WordTokenizer(["a", "b"])


@pytest.mark.parametrize("bad, message", [
    ([], "must be a dict"),
    ({"vocab": [BOS, "a"]}, "missing field.*type"),
    ({"type": "char"}, "missing field.*vocab"),
    ({"type": "char", "vocab": [BOS], "extra": 1}, "unknown field.*extra"),
    ({"type": "bpe", "vocab": [BOS]}, "unknown tokenizer type 'bpe'"),
    ({"type": "word", "vocab": "abc"}, "list of strings"),
    ({"type": "word", "vocab": [BOS, 3]}, "list of strings"),
    ({"type": "word", "vocab": ["a", BOS]}, "must start with"),
    ({"type": "word", "vocab": []}, "must start with"),
    ({"type": "word", "vocab": [BOS, "a", "b", "a"]}, "duplicate token 'a'"),
    ({"type": "word", "vocab": [BOS, "a", BOS]}, "duplicate token '<bos>'"),
    ({"type": "char", "vocab": [BOS, "ab"]}, "one character"),
])
def test_malformed_dicts_raise_a_clear_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        tokenizer_from_dict(bad)


def test_repr_names_kind_size_and_first_tokens():
    text = repr(verb_tokenizer())
    assert text.startswith("WordTokenizer(vocab_size=10")
    assert "'<bos>'" in text and "','" in text and "..." in text
    assert repr(CharTokenizer.from_text("ab")) == "CharTokenizer(vocab_size=3, tokens=['<bos>', 'a', 'b'])"
