"""Writes demo/names-train.tsv and demo/names-dev.tsv: the `demo-names` data set of made-up surnames by language.

Five languages, each a pattern of syllables and endings in its style (Russian -ov/-in/-sky, Japanese consonant-vowel
syllables, Italian vowel endings, Irish O'/Mac prefixes, German -mann/-berg), so that a small character model
learns in a minute to write a name in the language asked for. None is taken from a corpus (the real surnames
are in ../shared/datasets/names for the benchmark). 300 training names (60 a language) and 50 dev names (10 a
language), distinct, shuffled, seeded: running it again writes the same bytes. TSV with a `name`, `language`
header.

    python demo/make_names.py
"""
from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent


def russian(rng: random.Random) -> str:
    stem = rng.choice(["Iv", "Petr", "Sm", "Kuzn", "Vol", "Mor", "Sok", "Pop", "Lebed", "Kozl", "Nov", "Fedor",
                       "Orl", "Bel", "Zayt", "Gusev", "Tar", "Kisel", "Mak", "Zakhar"])
    middle = rng.choice(["", "", "al", "ar", "en", "ol"])
    return stem + middle + rng.choice(["ov", "ev", "in", "sky", "enko", "ovich"])


def japanese(rng: random.Random) -> str:
    syllables = ["ka", "ki", "ko", "sa", "shi", "su", "ta", "to", "na", "no", "mi", "mu", "ya", "yo", "ha", "hi",
                 "ma", "mo", "ri", "ro", "wa", "da", "ga", "be", "chi"]
    name = "".join(rng.choice(syllables) for _ in range(rng.choice([2, 3, 3, 4])))
    return (name + rng.choice(["", "", "", "n"])).capitalize()


def italian(rng: random.Random) -> str:
    stem = rng.choice(["Ross", "Bianch", "Ferr", "Roman", "Colomb", "Ricc", "Marin", "Grec", "Brun", "Gall",
                       "Cont", "Mancin", "Lombard", "Barbier", "Fontan", "Sant", "Carus", "Vitale", "Pellegr",
                       "Ruggier"])
    return stem + rng.choice(["i", "o", "etti", "ini", "ello", "one", "ucci", "ino"])


def irish(rng: random.Random) -> str:
    stem = rng.choice(["Brien", "Connor", "Neill", "Sullivan", "Kelly", "Donnell", "Carthy", "Mahon", "Grath",
                       "Namara", "Gowan", "Bride", "Laughlin", "Guire", "Dermott", "Keane", "Hara", "Reilly",
                       "Leary", "Shea"])
    return rng.choice(["O'", "Mac", "Mc"]) + stem + rng.choice(["", "", "", "e", "an"])


def german(rng: random.Random) -> str:
    stem = rng.choice(["Schmidt", "Schneid", "Fisch", "Web", "Wag", "Beck", "Hoff", "Schul", "Koch", "Richt",
                       "Klein", "Wolf", "Neu", "Schwarz", "Zimmer", "Braun", "Krüg", "Hart", "Lang", "Wald"])
    return stem + rng.choice(["mann", "berg", "er", "stein", "hausen", "feld", "ner", "baum"])


LANGUAGES: dict[str, Callable[[random.Random], str]] = {
    "Russian": russian, "Japanese": japanese, "Italian": italian, "Irish": irish, "German": german}


def names(language: str, count: int, rng: random.Random, taken: set[str]) -> list[tuple[str, str]]:
    """`count` names of the language, none of them in `taken` (which they join)."""
    rows = []
    while len(rows) < count:
        name = LANGUAGES[language](rng)
        if name not in taken:
            taken.add(name)
            rows.append((name, language))
    return rows


def write(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("name\tlanguage\n")
        out.writelines(f"{name}\t{language}\n" for name, language in rows)


def main() -> None:
    rng, taken = random.Random(20261205), set()
    train = [row for language in LANGUAGES for row in names(language, 60, rng, taken)]
    dev = [row for language in LANGUAGES for row in names(language, 10, rng, taken)]
    rng.shuffle(train)
    rng.shuffle(dev)
    write(HERE / "names-train.tsv", train)
    write(HERE / "names-dev.tsv", dev)


if __name__ == "__main__":
    main()
