"""The in-domain tagger's classes: clip labels and frequent caption words, in one normalised form.

Both labels and captions go through the paper-style text normalisation (`audiogen.text.paper_style`:
lowercase, stop words and numbers out, lemmatised), so that the label "Barking" and the caption word
"barks" are the same class `bark`, and a multi-word label ("Church bell") is the class `church bell`.
A clip's targets are its labels' forms plus its caption's words; a form is a class when at least
`min_count` training clips have it.

The tagger's CLAP-like text–audio score uses the same forms: the classes *in* a caption are those
whose words all appear among the caption's words (`classes_in_text`).

API:
    class_form(text) -> str                          caption_words(text) -> list[str]
    clip_terms(meta) -> set[str]                     build_classes(metas, min_count, max_classes) -> list[str]
    targets(meta, index) -> list[int]                classes_in_text(text, classes) -> list[int]
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from audiogen.text.normalize import paper_style


def class_form(text: str) -> str:
    """The normalised form of a label or word: "Barking" → "bark", "Church bell" → "church bell"."""
    return paper_style(str(text).lower().strip())


def caption_words(text: str) -> list[str]:
    """A caption's content words, lemmatised: "A dog barks at a cat" → ["dog", "bark", "cat"]."""
    return class_form(text).split() if text else []


def clip_caption(meta: Mapping[str, Any]) -> str:
    """The clip's caption: the normalised `caption`, else its first raw caption, else ""."""
    cap = meta.get("caption") or ""
    if not cap and meta.get("captions"):
        cap = str(meta["captions"][0])
    return str(cap)


def clip_terms(meta: Mapping[str, Any], use_caption_words: bool = True) -> set[str]:
    """Every class form a clip supports: its labels' forms and (optionally) its caption's words."""
    terms = {f for f in (class_form(lb) for lb in (meta.get("labels") or [])) if f}
    if use_caption_words:
        terms.update(caption_words(clip_caption(meta)))
    return terms


def build_classes(metas: Iterable[Mapping[str, Any]], min_count: int, max_classes: int | None = None,
                  use_caption_words: bool = True) -> tuple[list[str], dict[str, int]]:
    """Classes = forms found in at least `min_count` clips, most frequent first (ties by name),
    at most `max_classes`. Returns (classes, counts of every class)."""
    counts: Counter[str] = Counter()
    for meta in metas:
        counts.update(clip_terms(meta, use_caption_words))
    ranked = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    if max_classes is not None:
        ranked = ranked[: int(max_classes)]
    return ranked, {c: counts[c] for c in ranked}


def targets(meta: Mapping[str, Any], index: Mapping[str, int], use_caption_words: bool = True) -> list[int]:
    """Sorted class indices of a clip (possibly empty)."""
    return sorted(index[t] for t in clip_terms(meta, use_caption_words) if t in index)


def classes_in_text(text: str, classes: Sequence[str]) -> list[int]:
    """Indices of the classes whose words all occur among the text's words."""
    words = set(caption_words(text))
    return [i for i, c in enumerate(classes) if c and set(c.split()) <= words]
