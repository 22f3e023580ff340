"""Tests for rnnservice.ml.formats: every format on small valid files, one broken file per error, real slices."""
from __future__ import annotations

import tempfile
from itertools import islice
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats import (
    FORMATS,
    TASKS,
    ClassificationExample,
    TaggingExample,
    TranslationExample,
    guess_format,
    read_examples,
)

DATA = Path(__file__).parents[1] / "data"
SHARED = Path(__file__).parents[3] / "shared" / "datasets"


def data(name: str) -> str:
    return str(DATA / name)


def fails(name: str | tuple[str, str], **kwargs) -> FormatError:
    with pytest.raises(FormatError) as info:
        read_examples(data(name) if isinstance(name, str) else name, **kwargs)
    return info.value


# valid files, one format each

def test_it_reads_conllu_upos_and_skips_comments_multiword_tokens_and_empty_nodes():
    examples = read_examples(data("tiny.conllu"), task="tagging")
    assert examples == [
        TaggingExample(["I", "do", "n't", "know", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"]),
        TaggingExample(["Sue", "likes", "coffee", "and", "Bill", "tea"],
                       ["PROPN", "VERB", "NOUN", "CCONJ", "PROPN", "NOUN"]),
    ]
    assert [example.line for example in examples] == [3, 12]


def test_it_reads_conllu_xpos_when_asked():
    examples = read_examples(data("tiny.conllu"), task="tagging", tag_field="xpos")
    assert examples[0].tags == ["PRP", "VBP", "RB", "VB", "."]


def test_it_rejects_an_unknown_conllu_tag_field():
    error = fails("tiny.conllu", task="tagging", tag_field="deprel")
    assert error.line == 0 and "upos, xpos" in error.problem


def test_it_reads_bio_columns_and_skips_docstart():
    examples = read_examples(data("tiny_ner.txt"), task="tagging")
    assert [example.tokens for example in examples] == [
        ["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    assert examples[0].tags == ["B-ORG", "O", "B-MISC", "O"]
    assert [example.line for example in examples] == [3, 8, 11]


def test_it_takes_the_tag_from_tag_column():
    examples = read_examples(data("tiny_ner.txt"), task="tagging", tag_column=1)
    assert examples[1].tags == ["NNP", "NNP"]
    assert read_examples(data("tiny_ner.txt"), task="tagging", tag_column=-2)[1].tags == ["NNP", "NNP"]


def test_it_refuses_a_tag_column_that_is_the_token_or_out_of_range():
    assert "no tag column" in fails("tiny_ner.txt", task="tagging", tag_column=0).problem
    assert fails("tiny_ner.txt", task="tagging", tag_column=3).line == 3


def test_it_reads_a_tsv_with_a_sentence_label_header():
    examples = read_examples(data("tiny_sst.tsv"), task="classification")
    assert len(examples) == 4
    assert examples[0] == ClassificationExample("a gorgeous , witty , seductive movie .", "1")
    assert examples[-1].line == 5


def test_it_guesses_text_and_label_columns_in_a_csv_and_reads_quoted_cells():
    examples = read_examples(data("tiny_reviews.csv"), task="classification")
    assert [example.label for example in examples] == ["positive", "negative", "neutral"]
    assert examples[0].text == "Great pasta, friendly staff."
    assert examples[1].text == "Cold soup.\nNever again."
    assert [example.line for example in examples] == [2, 3, 5]


def test_it_takes_the_first_and_last_columns_when_no_name_is_known():
    examples = read_examples(data("tiny_names.csv"), task="classification")
    assert examples[0] == ClassificationExample("Abe", "Japanese")


def test_it_takes_columns_named_by_options():
    examples = read_examples(data("tiny_reviews.csv"), task="classification", text_column="text", label_column="stars")
    assert [example.label for example in examples] == ["5", "1", "3"]


def test_it_strips_a_bom_and_crlf_line_ends():
    examples = read_examples(data("bom.csv"), task="classification")
    assert examples == [ClassificationExample("Great pasta.", "positive"),
                        ClassificationExample("Cold soup.", "negative")]


def test_it_reads_source_and_target_columns_of_a_tsv():
    examples = read_examples(data("tiny_pairs.tsv"), task="translation")
    assert examples == [TranslationExample("Ein Hund läuft.", "A dog runs."),
                        TranslationExample("Zwei Kinder spielen.", "Two children play.")]


def test_it_reads_a_headerless_parallel_tsv():
    examples = read_examples(data("tiny_parallel.tsv"), task="translation")
    assert len(examples) == 3
    assert examples[2] == TranslationExample("Zwei Hunde rennen im Schnee.", "Two dogs run in the snow.")


def test_it_reads_two_aligned_files():
    pair = (data("tiny.de"), data("tiny.en"))
    examples = read_examples(pair, task="translation")
    assert read_examples(pair, task="translation", format="parallel") == examples
    assert examples[0] == TranslationExample("Ein Mann schläft auf einem Sofa.", "A man sleeps on a couch.")
    assert len(examples) == 3


def test_it_reads_jsonl_for_each_task():
    tagged = read_examples(data("tiny_tagging.jsonl"), task="tagging")
    assert [len(example.tokens) for example in tagged] == [4, 2] and tagged[1].line == 3
    labelled = read_examples(data("tiny_classification.jsonl"), task="classification")
    assert [example.label for example in labelled] == ["1", "0", "negative"]
    assert labelled[1].tokens == ["one", "long", "string", "of", "cliches", "."]
    assert labelled[1].text == "one long string of cliches ."
    pairs = read_examples(data("tiny_translation.jsonl"), task="translation")
    assert pairs[1] == TranslationExample("Zwei Kinder spielen.", "Two children play.")


def test_it_accepts_labels_seen_in_training():
    assert len(read_examples(data("tiny_sst.tsv"), task="classification", known_labels={"0", "1"})) == 4


# guessing the format

@pytest.mark.parametrize(("name", "task", "expected"), [
    ("tiny.conllu", "tagging", "conllu"),
    ("tiny_ner.txt", "tagging", "columns"),
    ("tiny_sst.tsv", "classification", "tsv"),
    ("tiny_reviews.csv", "classification", "csv"),
    ("tiny_tagging.jsonl", "tagging", "jsonl"),
    ("tiny_pairs.tsv", "translation", "tsv"),
    ("tiny_parallel.tsv", "translation", "parallel"),
    ("tiny_parallel.tsv", None, "tsv"),
])
def test_it_guesses_the_format(name, task, expected):
    assert guess_format(data(name), task=task) == expected


def test_it_guesses_aligned_files():
    assert guess_format((data("tiny.de"), data("tiny.en"))) == "parallel"


@pytest.mark.parametrize(("name", "expected"), [
    ("tiny.conllu", "conllu"), ("tiny_ner.txt", "columns"), ("tiny_tagging.jsonl", "jsonl"),
    ("tiny_reviews.csv", "csv"), ("tiny_sst.tsv", "tsv"),
])
def test_it_guesses_the_format_from_the_first_lines(tmp_path, name, expected):
    copy = tmp_path / "data.dat"
    copy.write_bytes((DATA / name).read_bytes())
    assert guess_format(str(copy)) == expected


def test_it_guesses_tab_separated_columns_for_tagging(tmp_path):
    path = tmp_path / "ner.dat"
    path.write_text("EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\n")
    assert guess_format(str(path), task="tagging") == "columns"
    assert [example.tags for example in read_examples(str(path), task="tagging")] == [["B-ORG", "O"], ["B-PER"]]


def test_it_says_when_it_cannot_tell_the_format():
    error = fails("mystery.dat", task="classification")
    assert error.line == 1 and "cannot tell the format" in error.problem and "jsonl" in error.problem


# broken files: one each

@pytest.mark.parametrize(("name", "kwargs", "line", "problem"), [
    ("empty.tsv", {"task": "classification"}, 1, "the file is empty"),
    ("empty.tsv", {"task": "translation"}, 1, "the file is empty"),
    ("only_header.tsv", {"task": "classification"}, 1, "no examples"),
    ("ragged.txt", {"task": "tagging"}, 3, "ragged row: 2 columns, but the first row (line 1) has 3"),
    ("missing_column.csv", {"task": "classification", "label_column": "label"}, 1,
     "missing column 'label' (label_column); the header has 'text', 'stars'"),
    ("bad_utf8.tsv", {"task": "classification"}, 3, "not valid UTF-8: byte 0xe9"),
    ("bad_json.jsonl", {"task": "classification"}, 2, "invalid JSON: Expecting value"),
    ("not_object.jsonl", {"task": "classification"}, 2, "expected a JSON object, got an array"),
    ("tag_mismatch.jsonl", {"task": "tagging"}, 2, "3 tokens but 2 tags"),
    ("conllu_bad_columns.conllu", {"task": "tagging"}, 3, "needs 10 tab-separated columns, this one has 1"),
    ("conllu_bad_id.conllu", {"task": "tagging"}, 3, "the ID 'two' is not a number"),
    ("empty_label.tsv", {"task": "classification"}, 3, "the label is empty"),
    ("unseen_label.tsv", {"task": "classification", "known_labels": {"0", "1"}}, 4,
     "label '2' was never seen in training"),
    ("tiny_ner.txt", {"task": "tagging", "known_labels": {"O", "B-ORG", "B-MISC"}}, 8,
     "label 'B-PER' was never seen in training"),
])
def test_it_reports_a_broken_file_with_its_line(name, kwargs, line, problem):
    error = fails(name, **kwargs)
    assert error.line == line
    assert problem in error.problem
    assert error.path == data(name)


@pytest.mark.parametrize(("text", "kwargs", "problem"), [
    ("text\tlabel\na b\t1\nc d\n", {"task": "classification", "format": "tsv"},
     "ragged row: 1 column, but the header has 2"),
    ("Ein Mann\tA man\nEin Hund\n", {"task": "translation", "format": "parallel"},
     "a line needs source<TAB>target, this one has 1 tab-separated column"),
])
def test_it_counts_one_column_as_one(tmp_path, text, kwargs, problem):
    path = tmp_path / "file.tsv"
    path.write_text(text)
    with pytest.raises(FormatError) as error:
        read_examples(path, **kwargs)
    assert error.value.problem == problem


def test_a_problem_of_the_file_as_a_whole_names_no_line():
    assert str(FormatError("train.tsv", 0, "holds no examples")) == "train.tsv: holds no examples"
    assert str(FormatError("train.tsv", 3, "ragged row")) == "train.tsv, line 3: ragged row"


def test_it_reports_aligned_files_of_different_lengths_at_the_first_unmatched_line():
    error = fails((data("mismatch.de"), data("mismatch.en")), task="translation")
    assert (error.path, error.line) == (data("mismatch.de"), 3)
    assert "mismatch.de has 3 lines but" in error.problem and "mismatch.en has 2" in error.problem


def test_it_names_a_missing_aligned_file():
    error = fails((data("tiny.de"), data("nowhere.en")), task="translation")
    assert error.path == data("nowhere.en") and "cannot read the file" in error.problem


def test_it_reads_aligned_files_whose_folder_has_a_comma(tmp_path):
    folder = tmp_path / "a,b"
    folder.mkdir()
    for name in ("tiny.de", "tiny.en"):
        (folder / name).write_bytes(Path(data(name)).read_bytes())
    pair = (str(folder / "tiny.de"), str(folder / "tiny.en"))
    assert read_examples(pair, task="translation") == read_examples((data("tiny.de"), data("tiny.en")),
                                                                    task="translation")


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"task": "classification", "format": "xml"}, "unknown format 'xml'; choose one of conllu, columns"),
    ({"task": "parsing"}, "unknown task 'parsing'; choose one of tagging"),
    ({"task": "classification", "tag_column": 1}, "does not take the option 'tag_column'"),
    ({"task": "classification", "source_column": "sentence"}, "it takes text_column, label_column"),
    ({"task": "tagging"}, "format 'tsv' holds classification or translation data, not tagging"),
    ({"task": "translation", "known_labels": {"0"}}, "translation has no labels"),
])
def test_it_refuses_bad_arguments(kwargs, problem):
    error = fails("tiny_sst.tsv", **kwargs)
    assert error.line == 0 and problem in error.problem


def test_it_refuses_a_line_longer_than_max_line_chars():
    error = fails("tiny_sst.tsv", task="classification", max_line_chars=30)
    assert error.line == 2 and "the limit is 30 (max_line_chars)" in error.problem


# anything at all: a list or a FormatError, never another exception

@settings(max_examples=60, deadline=None)
@given(content=st.one_of(st.binary(max_size=300), st.text(alphabet="ab1-.#{}[]\",:\t \n\r\x00é", max_size=300)),
       task=st.sampled_from(TASKS), format=st.sampled_from((None, *FORMATS)))
def test_it_raises_only_format_errors_on_random_files(content, task, format):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.dat"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        try:
            assert isinstance(read_examples(str(path), task=task, format=format), list)
        except FormatError as error:
            assert error.line >= 0


@settings(max_examples=40, deadline=None)
@given(source=st.binary(max_size=200), target=st.text(alphabet="ab .\t\n\r\x00é", max_size=200),
       task=st.sampled_from(TASKS), format=st.sampled_from((None, "parallel")))
def test_it_raises_only_format_errors_on_random_aligned_files(source, target, task, format):
    with tempfile.TemporaryDirectory() as folder:
        pair = Path(folder) / "random.src", Path(folder) / "random.tgt"
        pair[0].write_bytes(source)
        pair[1].write_text(target, encoding="utf-8", newline="")
        try:
            assert isinstance(read_examples((str(pair[0]), str(pair[1])), task=task, format=format), list)
        except FormatError as error:
            assert isinstance(error.line, int) and error.line >= 0


# slices of the real corpora in ../shared/datasets

@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data sets are not beside the project")
@pytest.mark.parametrize(("names", "task", "count"), [
    (("ud-english-ewt/en_ewt-ud-dev.conllu",), "tagging", 9),
    (("conll2003-ner/dev.txt",), "tagging", 8),
    (("sst2/dev.tsv",), "classification", 199),
    (("names/names.tsv",), "classification", 199),
    (("multi30k-de-en/val.de", "multi30k-de-en/val.en"), "translation", 200),
])
def test_it_reads_slices_of_the_real_files(tmp_path, names, task, count):
    slices = []
    for name in names:
        with open(SHARED / name, "rb") as file:
            head = b"".join(islice(file, 200))
        (tmp_path / Path(name).name).write_bytes(head)
        slices.append(str(tmp_path / Path(name).name))
    examples = read_examples(slices[0] if len(slices) == 1 else (slices[0], slices[1]), task=task)
    assert len(examples) == count
    assert all(example.line > 0 for example in examples)


@pytest.mark.parametrize(("text", "task", "why"), [
    ("a fine film\t1\ndull\t0\nfun\t1\n", "classification", "its label column's name '1' is a label"),
    ("1.5,2\n3,4\n", "translation", "all its cells are numbers"),
])
def test_it_refuses_a_table_whose_header_looks_like_data(tmp_path, text, task, why):
    path = tmp_path / ("data.tsv" if "\t" in text else "data.csv")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError) as caught:
        read_examples(str(path), task=task, format="tsv" if "\t" in text else "csv")
    assert caught.value.line == 1 and why in caught.value.problem and "add a header line" in caught.value.problem


def test_it_still_reads_a_table_whose_header_names_its_columns(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("sentence\tlabel\na fine film\t1\n2 + 2\t0\n", encoding="utf-8")
    assert [ex.label for ex in read_examples(str(path), task="classification", format="tsv")] == ["1", "0"]

