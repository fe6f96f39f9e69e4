"""Is this row speech? (filter stage; CORPORA.md "Speech").

Two knobs. `filter.speech_mode` says who decides (DECISION_MODES; `combine` is the truth table):
  labels   the labels and captions decide, here in the filter (the paper's way)
  audio    the audio decides, in prepare (audiogen.speech.vad); label hits are only annotated
  either   dropped when the labels or the audio say speech (label hits here, the rest in prepare)
  confirm  a label hit is dropped only when its audio agrees (in prepare); others are kept
  off      nothing is dropped for speech
The filter writes the manifest column `speech_by_audio` (`audio_decides`) so that prepare, which
reads only its own params, knows which rows' clips its audio verdict drops.

`filter.speech_rules` says what a label/caption hit is (the `SpeechConfig.mode` below):
  strict (default)  by label id: AudioSet Speech (/m/09x0r) and its whole ontology subtree, plus
                    speech-bearing ids outside it (/m/07qfr4h hubbub) — AudioSet and FSD50K mids
                    alike; by class name: VGGSound's speech classes (and, behind a switch, its
                    voice-like ones); by caption pattern: regexes over the free-text captions.
  paper             the paper's literal rule: the word "speech" in a label or a caption (keeps
                    conversation, narration, "a man talks").
  off               nothing is speech.

Captions that are only the row's own tags joined with ", " (the caption tag-only corpora build)
are judged by their labels, not by the caption patterns: otherwise VGGSound's "parrot talking"
would be dropped by `\\btalk` even with the voice-like switch off. A merged row is judged on the
union of its members' labels and captions. Each decision comes with a reason such as
"label:/m/05zppz Male speech, man speaking", "label:male speech, man speaking" or
"caption:talking".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from pipeline.filtering.ontology import HUBBUB_ID, SPEECH_ID, Ontology

MODES = ("strict", "paper", "off")  # label/caption rule sets (filter.speech_rules; off: no hits)
DECISION_MODES = ("labels", "audio", "either", "confirm", "off")  # filter.speech_mode


def combine(mode: str, label_hit: bool, audio_hit: bool) -> bool:
    """Whether a train/valid clip is dropped for speech under `mode`."""
    return {"labels": label_hit, "audio": audio_hit, "either": label_hit or audio_hit,
            "confirm": label_hit and audio_hit, "off": False}[mode]


def filter_drops(mode: str, label_hit: bool) -> bool:
    """Whether the filter stage itself drops a train/valid row (no audio needed to decide)."""
    return label_hit and mode in ("labels", "either")


def audio_decides(mode: str, label_hit: bool) -> bool:
    """Whether prepare drops a kept train/valid row's clips when their audio is speech."""
    return mode == "audio" or (mode == "either" and not label_hit) or (mode == "confirm" and label_hit)

VGGSOUND_SPEECH = ("male speech, man speaking", "female speech, woman speaking", "child speech, kid speaking")
VGGSOUND_VOICE_LIKE = ("people babbling", "baby babbling", "people whispering", "police radio chatter",
                       "parrot talking", "people crowd")
# Word-boundary care: `\bspeak(?!ers?\b)` keeps "a music speaker"/"loudspeakers" (not speech) out;
# `\bspoken?\b` does not fire on bicycle "spokes"; "chatter" (birds, teeth) and "babble" (brooks)
# are left out on purpose.
CAPTION_PATTERNS = (
    r"\bspeak(?!ers?\b)",
    r"\bspoken?\b",
    r"\bspeech",
    r"\btalk",
    r"\bnarrat",
    r"\bconversation",
    r"\bconverse",
    r"\bannounc",
    r"\bsays?\b",
    r"\bsaid\b",
    r"\bsaying\b",
    r"\bdiscuss",
    r"\blectur",
    r"\binterview",
    r"\bdialog",
    r"\bmonolog",
    r"\bsermon",
    r"\bpreach",
    r"\bcommentat",
    r"\bmumbl",
    r"\bchatting\b",
)
# The paper's rule: "speech" as a word; underscores and digits count as separators.
PAPER_PATTERN = r"(?<![a-z])speech(?![a-z])"

Row = dict[str, Any]


@dataclass(frozen=True)
class SpeechConfig:
    mode: str = "strict"
    root_ids: tuple[str, ...] = (SPEECH_ID,)
    extra_ids: tuple[str, ...] = (HUBBUB_ID,)
    class_names: tuple[str, ...] = VGGSOUND_SPEECH
    voice_like: bool = False
    voice_like_names: tuple[str, ...] = VGGSOUND_VOICE_LIKE
    caption_patterns: tuple[str, ...] = CAPTION_PATTERNS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"speech mode must be one of {MODES}, got {self.mode!r}")


def _word_at(text: str, start: int, end: int) -> str:
    """The whole word around text[start:end] ("talk" inside "talking" → "talking")."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[start:end].lower()


def tag_caption(caption: str, labels: Iterable[str]) -> bool:
    """Whether a caption is only tags: nothing but commas and spaces is left once every label is
    cut out of it (longest first, so "Male speech, man speaking" goes before "Speech")."""
    names = sorted({label.strip().casefold() for label in labels if label and label.strip()}, key=len, reverse=True)
    if not names:
        return False
    rest = caption.casefold()
    for name in names:
        rest = rest.replace(name, ",")
    return re.fullmatch(r"[\s,]*", rest) is not None


class SpeechDetector:
    """`reason(row)` → why the row is speech, or None."""

    def __init__(self, config: SpeechConfig, ontology: Ontology) -> None:
        self.config = config
        self.ontology = ontology
        ids = ontology.subtree(config.root_ids) + [i for i in config.extra_ids]
        self.speech_ids = {i: ontology.name(i) or i for i in ids}
        names = list(config.class_names) + (list(config.voice_like_names) if config.voice_like else [])
        self.class_names = {n.strip().casefold() for n in names}
        self.patterns = [re.compile(p, re.IGNORECASE) for p in config.caption_patterns]
        self.paper = re.compile(PAPER_PATTERN, re.IGNORECASE)

    @staticmethod
    def _texts(row: Row) -> list[str]:
        texts = list(row.get("captions") or [])
        if row.get("caption") and row["caption"] not in texts:
            texts.append(row["caption"])
        return texts

    def reason(self, row: Row) -> str | None:
        mode = self.config.mode
        if mode == "off":
            return None
        labels: Sequence[str] = row.get("labels") or []
        if mode == "paper":
            for label in labels:
                if self.paper.search(label):
                    return f"label:{label}"
            for text in self._texts(row):
                m = self.paper.search(text)
                if m:
                    return f"caption:{_word_at(text, m.start(), m.end())}"
            return None
        for label_id in row.get("label_ids") or []:
            if label_id in self.speech_ids:
                return f"label:{label_id} {self.speech_ids[label_id]}"
        for label in labels:
            if label.strip().casefold() in self.class_names:
                return f"label:{label}"
        for text in self._texts(row):
            if tag_caption(text, labels):
                continue
            for pattern in self.patterns:
                m = pattern.search(text)
                if m:
                    return f"caption:{_word_at(text, m.start(), m.end())}"
        return None
