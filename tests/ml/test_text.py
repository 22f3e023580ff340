"""Tests for rnnservice.ml.text: the Vocab and its specials, and each tokenizer."""
from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from rnnservice.ml.errors import ArtifactError, ConfigError
from rnnservice.ml.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    BpeTokenizer,
    CharTokenizer,
    Vocab,
    WhitespaceTokenizer,
    WordTokenizer,
    make_tokenizer,
    tokenizer_from_dict,
)

SUBJECTS = ["The dog", "A small cat", "My neighbour", "The old man", "Every child", "Her sister"]
VERBS = ["reads a book", "sleeps on the sofa", "runs in the park", "sings, loudly", "eats soup at home"]
CORPUS = [f"{s} {v}." for s, v in itertools.product(SUBJECTS, VERBS)]          # 30 sentences


def test_it_puts_the_specials_at_ids_0_to_3():
    vocab = Vocab(["cat", "dog"])

    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert [vocab.id(s) for s in SPECIALS] == [0, 1, 2, 3]
    assert vocab.encode(["cat", "dog"]) == [4, 5]


def test_it_does_not_repeat_a_special_given_as_a_token():
    assert Vocab(["<unk>", "cat", "<pad>"]).itos == ["<pad>", "<unk>", "<bos>", "<eos>", "cat"]


def test_it_maps_an_unknown_token_to_unk():
    vocab = Vocab(["cat"])

    assert vocab.encode(["cat", "zebra"]) == [4, UNK_ID]
    assert vocab.decode([4, UNK_ID]) == ["cat", "<unk>"]


def test_it_builds_most_frequent_first_and_drops_rare_tokens():
    vocab = Vocab.build(Counter({"a": 5, "b": 1, "c": 3}), min_freq=2)

    assert vocab.itos[4:] == ["a", "c"]
    assert "b" not in vocab


def test_it_caps_the_vocabulary_size():
    assert len(Vocab.build(Counter({"a": 5, "b": 4, "c": 3}), max_size=2)) == 4 + 2


def test_it_round_trips_a_vocab_through_json():
    vocab = Vocab(["cat", "dog", "Straße"])

    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))

    assert again.itos == vocab.itos
    assert again.encode(["dog", "zebra"]) == vocab.encode(["dog", "zebra"])


def test_it_keeps_label_vocabularies_free_of_specials():
    labels = Vocab(["O", "B-PER", "I-PER"], specials=False)

    assert labels.itos == ["O", "B-PER", "I-PER"]
    assert labels.id("B-PER") == 1
    with pytest.raises(KeyError):
        labels.id("B-LOC")                       # a label is never silently mapped to another
    assert Vocab.from_dict(labels.to_dict()).itos == labels.itos


def test_it_splits_punctuation_from_words():
    assert WordTokenizer().tokenize("Hello, world (again)!") == ["Hello", ",", "world", "(", "again", ")", "!"]


def test_it_keeps_numbers_dates_and_contractions_whole():
    tokens = WordTokenizer().tokenize("It costs 3.5 dollars, since 1996-08-22. Don't.")

    assert tokens == ["It", "costs", "3.5", "dollars", ",", "since", "1996-08-22", ".", "Don't", "."]


def test_it_lowercases_only_the_vocabulary_form():
    tokenizer = WordTokenizer(lowercase=True)

    assert tokenizer.tokenize("The Dog") == ["The", "Dog"]
    assert tokenizer.normalize("Dog") == "dog"


def test_it_splits_pre_tokenized_text_on_white_space_only():
    assert WhitespaceTokenizer().tokenize("EU  rejects\tGerman-made call.") == ["EU", "rejects", "German-made", "call."]


def test_it_splits_characters_and_joins_them_back():
    tokenizer = CharTokenizer()

    tokens = tokenizer.tokenize(" ab c ")

    assert tokens == ["a", "b", " ", "c"]
    assert tokenizer.detokenize(tokens) == "ab c"


def test_it_rejects_an_unknown_tokenizer_kind():
    with pytest.raises(ConfigError) as info:
        make_tokenizer("sentencepiece")
    assert info.value.field == "tokenizer.kind"


@pytest.fixture(scope="module")
def bpe() -> BpeTokenizer:
    tokenizer = BpeTokenizer(vocab_size=200)
    tokenizer.fit(CORPUS)
    return tokenizer


def test_it_learns_subwords_smaller_than_the_corpus_words(bpe):
    tokens = bpe.tokenize("The neighbour sings.")

    assert len(tokens) >= 3
    assert "<unk>" not in tokens


@pytest.mark.parametrize("text", [CORPUS[0], CORPUS[-1], "Her cat reads, loudly.", "A child eats at the park."])
def test_it_detokenizes_bpe_tokens_back_to_the_original_text(bpe, text):
    assert bpe.detokenize(bpe.tokenize(text)) == text


def test_it_rebuilds_the_same_bpe_tokenizer_from_its_dict(bpe):
    again = tokenizer_from_dict(json.loads(json.dumps(bpe.to_dict())))

    assert isinstance(again, BpeTokenizer)
    for text in CORPUS[:5] + ["An unseen sentence, with new words."]:
        assert again.tokenize(text) == bpe.tokenize(text)


@pytest.mark.parametrize("tokenizer", [WordTokenizer(lowercase=True), WhitespaceTokenizer(), CharTokenizer()])
def test_it_rebuilds_simple_tokenizers_from_their_dict(tokenizer):
    again = tokenizer_from_dict(tokenizer.to_dict())

    assert type(again) is type(tokenizer)
    assert again.lowercase == tokenizer.lowercase


def test_it_reports_a_damaged_tokenizer_as_an_artifact_error():
    with pytest.raises(ArtifactError):
        tokenizer_from_dict({"kind": "morphemes", "lowercase": False})
    with pytest.raises(ArtifactError):
        tokenizer_from_dict({"kind": "bpe", "lowercase": False, "vocab_size": 100, "model": {"not": "a model"}})
