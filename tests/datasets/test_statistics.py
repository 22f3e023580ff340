"""Tests for apps.datasets.statistics."""
from apps.datasets.statistics import length_histogram, length_summary, split_statistics
from rnnservice.ml.formats import ClassificationExample, GenerationExample, TaggingExample, TranslationExample


def test_it_takes_nearest_rank_percentiles():
    assert length_summary(range(100, 0, -1)) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}
    assert length_summary([7]) == {"p50": 7, "p90": 7, "p99": 7, "max": 7}
    assert length_summary([]) == {"p50": 0, "p90": 0, "p99": 0, "max": 0}


def test_it_counts_tokens_and_labels_per_task():
    tagging = split_statistics([TaggingExample(["EU", "rejects"], ["B-ORG", "O"]), TaggingExample(["Hi"], ["O"])])
    assert (tagging["examples"], tagging["tokens"], tagging["labels"]) == (2, 3, {"O": 2, "B-ORG": 1})
    classification = split_statistics([ClassificationExample("Cold soup, really.", "neg"),
                                       ClassificationExample("x", "pos", tokens=["pre", "tokenized"])])
    assert (classification["tokens"], classification["labels"]) == (7, {"neg": 1, "pos": 1})
    translation = split_statistics([TranslationExample("Ein Hund läuft.", "A dog runs fast.")])
    assert (translation["tokens"], translation["target_tokens"]) == (4, 5)
    assert translation["target_length"]["max"] == 5
    assert "labels" not in translation
    generation = split_statistics([GenerationExample("Novak", "Czech"), GenerationExample("Abe", "Japanese")])
    assert (generation["tokens"], generation["labels"]) == (2, {"Czech": 1, "Japanese": 1})
    assert split_statistics([GenerationExample("The cat sat.")])["labels"] == {}


def test_it_bins_lengths_for_the_histogram():
    assert length_histogram([1, 1, 2, 5]) == [[0, 0, 0], [1, 1, 2], [2, 2, 1], [3, 3, 0], [4, 4, 0], [5, 5, 1]]
    wide = length_histogram([0, 23, 24, 250])
    assert len(wide) <= 12 and wide[0] == [0, 20, 1] and wide[1] == [21, 41, 2] and wide[-1][2] == 1
    assert sum(count for _, _, count in wide) == 4
    assert length_histogram([]) == []
    assert split_statistics([TaggingExample(["a", "b"], ["X", "Y"])])["length_histogram"] == [[0, 0, 0], [1, 1, 0],
                                                                                            [2, 2, 1]]
