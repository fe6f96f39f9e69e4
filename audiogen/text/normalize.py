"""Caption normalisation (the text side of the data). Text *encoders* live in `audiogen.text.encoders`.

Two styles, one switch (`CaptionConfig.paper_style`):

- default: Unicode NFKC, lowercase, markup and catalogue noise stripped, whitespace collapsed:
  "Two-stroke engine, start, run.  - Sept '1967 (23F,reprocessed)" → "two-stroke engine, start, run."
- paper style (AudioGen §data): additionally stop words and numbers removed, words lemmatised
  (simplemma, which ships its dictionaries: no download) and punctuation dropped, so captions look
  like tag lists: "A dog is barking at the park" → "dog bark park", "dog, bark" → "dog bark".

Deterministic: no model, no randomness; the lemmatiser's version is recorded by the stage.
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

# A compact English stop list (function words; the NLTK list minus nothing a caption needs).
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he her here hers herself
    him himself his how i if in into is isn't it it's its itself just me more most my myself no nor not
    now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until
    up very was wasn't we were weren't what when where which while who whom why will with won't would
    you your yours yourself yourselves there's while also get got""".split()
)
NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
    thousand million first second third""".split()
)

_TAG = re.compile(r"<[^<>]{0,200}>")
_BRACKETS = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")
_TRAILING_PARENS = re.compile(r"\s*\([^()]*\)\s*$")
# BBC catalogue tails: "... - 1", "... - Sept '1967", "... - 1967", "... - take 2"
_TRAILING_CATALOGUE = re.compile(
    r"\s+[-–—]\s*(?:(?:take|part|version|no\.?|[a-z]{3,9}\.?)\s*)?'?\d[\d\s'./-]*$", re.IGNORECASE
)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_NUMBER = re.compile(r"^\d+(?:st|nd|rd|th|s)?$")


@dataclass
class CaptionConfig:
    """How captions are normalised (params.yaml `prepare.captions`)."""

    nfkc: bool = True
    lowercase: bool = True
    strip_markup: bool = True  # HTML tags and entities, [bracketed] and {braced} notes
    strip_catalogue_noise: bool = True  # trailing "(provenance)", BBC's "- 1", "- Sept '1967"
    paper_style: bool = False  # stop words and numbers out, lemmatised, no punctuation
    language: str = "en"  # simplemma language code
    extra_stop_words: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict | None) -> "CaptionConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown caption option(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def strip_catalogue_noise(text: str) -> str:
    """Remove trailing provenance in parentheses and catalogue numbering, repeatedly
    ("Car passes - Sept '1967 (23F,reprocessed)" → "Car passes")."""
    while True:
        new = _TRAILING_CATALOGUE.sub("", _TRAILING_PARENS.sub("", text))
        if new == text or not new.strip():
            return text if not new.strip() else new
        text = new


# simplemma's known slips on sound-caption words (checked against its English dictionary).
_LEMMA_FIXES = {"en": {"playing": "play"}}


@lru_cache(maxsize=200_000)
def _lemma(word: str, language: str) -> str:
    import simplemma

    fixed = _LEMMA_FIXES.get(language, {}).get(word)
    return fixed if fixed is not None else simplemma.lemmatize(word, lang=language)


def paper_style(text: str, language: str = "en", extra_stop_words: Iterable[str] = ()) -> str:
    """Stop words and numbers removed, lemmatised, punctuation dropped; `text` already lowercased."""
    stop = STOP_WORDS | NUMBER_WORDS | frozenset(extra_stop_words)
    out = []
    for word in _WORD.findall(text.replace("-", " ")):
        if word in stop or _NUMBER.match(word) or any(c.isdigit() for c in word):
            continue
        lemma = _lemma(word, language).lower()
        if lemma in stop:  # "was" → "be"
            continue
        out.append(lemma)
    return " ".join(out)


def normalize_caption(text: str | None, cfg: CaptionConfig | None = None) -> str:
    """One caption → its normalised form ("" for None or nothing left)."""
    cfg = cfg or CaptionConfig()
    if not text:
        return ""
    if cfg.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if cfg.strip_markup:
        text = html.unescape(_TAG.sub(" ", text))
        text = _BRACKETS.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    if cfg.strip_catalogue_noise:
        text = strip_catalogue_noise(text)
    if cfg.lowercase:
        text = text.lower()
    if cfg.paper_style:
        text = paper_style(text, cfg.language, cfg.extra_stop_words)
    return _SPACE.sub(" ", text).strip()


def normalize_captions(texts: Iterable[str | None], cfg: CaptionConfig | None = None) -> list[str]:
    """Normalise each caption, dropping the ones that come out empty and exact duplicates (order kept)."""
    seen: set[str] = set()
    out = []
    for t in texts:
        n = normalize_caption(t, cfg)
        if n and n not in seen:
            seen.add(n)
            out.append(n)
    return out
