"""The generated verb-grammar corpus: determinism, agreement in every clause, vocabulary."""
import random

import pytest

from minigpt.corpus import (CANONICAL_NEXT, CANONICAL_PREFIX, CANONICAL_SENTENCE, PRONOUNS,
                            VERBS, conjugate, default_word_tokenizer, grammar_errors,
                            grammar_vocabulary, third_person, training_examples,
                            verb_grammar_corpus)
from minigpt.tokenizers import BOS, WordTokenizer

# Written out independently of the module, so the agreement check is not circular.
BASE_PRONOUNS = {"I", "you", "we", "they"}
THIRD_PRONOUNS = {"he", "she", "it"}
BASE_FORMS = {base for base, _ in VERBS}
THIRD_FORMS = {third for _, third in VERBS}

CORPUS = verb_grammar_corpus(n_documents=500, seed=0)


def parse(sentence):
    """'I work , he works .' -> [('I', 'work'), ('he', 'works')], checking the layout."""
    assert sentence == " ".join(sentence.split()), "single spaces, no padding"
    assert sentence.endswith(" .")
    clauses = sentence[:-2].split(" , ")
    pairs = [tuple(c.split(" ")) for c in clauses]
    assert all(len(p) == 2 for p in pairs), sentence
    return pairs


def test_same_seed_same_corpus_and_the_global_random_state_is_untouched():
    random.seed(123)
    before = random.random()
    random.seed(123)
    again = verb_grammar_corpus(n_documents=500, seed=0)
    assert again == CORPUS
    assert random.random() == before


def test_different_seeds_give_different_corpora():
    assert verb_grammar_corpus(200, seed=1) != verb_grammar_corpus(200, seed=2)
    assert len(verb_grammar_corpus(7, seed=3)) == 7 and verb_grammar_corpus(0) == []


def test_every_clause_of_every_sentence_agrees():
    for sentence in CORPUS:
        pairs = parse(sentence)
        assert 1 <= len(pairs) <= 4
        for pronoun, verb in pairs:
            if pronoun in THIRD_PRONOUNS:
                assert verb in THIRD_FORMS, sentence
            else:
                assert pronoun in BASE_PRONOUNS and verb in BASE_FORMS, sentence
        assert grammar_errors(sentence) == []


def test_sentences_repeat_one_verb_and_all_lengths_occur():
    verb_of = {form: base for base, third in VERBS for form in (base, third)}
    multi = [parse(s) for s in CORPUS if " , " in s]
    same = sum(len({verb_of[v] for _, v in pairs}) == 1 for pairs in multi)
    assert same == len(multi)  # the defaults repeat one verb in every sentence
    assert {len(parse(s)) for s in CORPUS} == {2, 3, 4}  # default: 2-4 clauses
    mixed = [parse(s) for s in verb_grammar_corpus(300, seed=4, min_clauses=1, p_paradigm=0.2, p_same_verb=0.2)]
    assert {len(p) for p in mixed} == {1, 2, 3, 4}
    assert any(len({verb_of[v] for _, v in pairs}) > 1 for pairs in mixed)  # mixed-verb sentences
    assert {p for s in CORPUS for p, _ in parse(s)} == set(PRONOUNS)


def test_the_canonical_prefix_occurs_for_any_seed():
    assert CANONICAL_SENTENCE.startswith(CANONICAL_PREFIX[len("<bos> "):] + " " + CANONICAL_NEXT)
    for seed in (0, 1, 99):
        docs = verb_grammar_corpus(50, seed=seed)
        assert any(d.startswith("I work , you work , he works") for d in docs)
    assert CANONICAL_SENTENCE not in verb_grammar_corpus(50, include_canonical=False, p_paradigm=0)


def test_after_the_canonical_prefix_the_corpus_continues_with_works():
    # Every document starting with the prefix continues with the agreeing form.
    prefix = "I work , you work , he "
    continuations = {d[len(prefix):].split()[0] for d in CORPUS if d.startswith(prefix)}
    assert continuations == {"works"}


def test_vocabulary_fits_the_locked_config_and_the_tokenizer_covers_the_grammar():
    tok = default_word_tokenizer()
    assert tok.vocab_size == len(grammar_vocabulary()) + 1 < 64
    assert tok.tokens[0] == BOS
    assert len(VERBS) >= 25 and len({f for pair in VERBS for f in pair}) == 2 * len(VERBS)
    # independent of the sample: a tokenizer built from the corpus is a subset
    seen = WordTokenizer.from_documents(CORPUS)
    assert set(seen.tokens) <= set(tok.tokens)
    ids = tok.encode(CANONICAL_PREFIX)
    assert len(ids) == 8 and ids[0] == tok.bos_id
    for doc in CORPUS[:50]:
        assert tok.decode(tok.encode_document(doc), bos="") == doc


@pytest.mark.parametrize("base, third", [
    ("work", "works"), ("play", "plays"), ("try", "tries"), ("study", "studies"),
    ("watch", "watches"), ("wash", "washes"), ("fix", "fixes"), ("guess", "guesses"),
    ("go", "goes"), ("do", "does"), ("have", "has"), ("buzz", "buzzes"), ("enjoy", "enjoys"),
])
def test_third_person_spelling(base, third):
    assert third_person(base) == third


def test_the_verb_table_follows_the_spelling_rules():
    for base, third in VERBS:
        assert third_person(base) == third


def test_conjugate_and_grammar_errors():
    assert conjugate("she", ("fly", "flies")) == "flies"
    assert conjugate("we", ("fly", "flies")) == "fly"
    with pytest.raises(ValueError, match="'him'"):
        conjugate("him", ("fly", "flies"))
    errors = grammar_errors("I works , he work , they fly")
    assert len(errors) == 3
    assert any("'I works' should be 'I work'" in e for e in errors)
    assert any("'he work' should be 'he works'" in e for e in errors)
    assert any("end with" in e for e in errors)
    assert grammar_errors("") == ["empty sentence"]
    assert grammar_errors("he banana .") and grammar_errors("him works .")


def test_training_examples_shift_targets_by_one_and_respect_the_context():
    tok = default_word_tokenizer()
    [(inputs, targets)] = training_examples(["he works ."], tok, context_len=32)
    ids = tok.encode_document("he works .")
    assert inputs == ids[:-1] and targets == ids[1:] and targets[-1] == tok.bos_id
    # a 14-id document with context 5: windows overlap by one id, every target once
    long_doc = "I go , you go , he goes , we go ."
    pieces = training_examples([long_doc], tok, context_len=5)
    assert all(1 <= len(x) == len(y) <= 5 for x, y in pieces)
    assert [t for _, y in pieces for t in y] == tok.encode_document(long_doc)[1:]
    with pytest.raises(ValueError, match="context_len"):
        training_examples([long_doc], tok, context_len=0)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="n_documents"):
        verb_grammar_corpus(-1)
    with pytest.raises(ValueError, match="clauses"):
        verb_grammar_corpus(10, min_clauses=3, max_clauses=2)
    with pytest.raises(ValueError, match="probabilities"):
        verb_grammar_corpus(10, p_paradigm=0.8, p_same_verb=0.5)
