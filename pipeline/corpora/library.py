"""Shared reader for the sound-library corpora (Free To Use Sounds, Sonniss GDC bundles,
WeSoundEffects, Odeon): folders of audio files with no metadata table (CORPORA.md "Sound libraries").

Per audio file, one manifest row. Its text comes from the file itself, in this order:
1. the tags inside the file (`audio_tags.read_tags`: BWF bext Description, RIFF INFO ICMT/INAM,
   ID3/Vorbis title), when they hold a description rather than machine data or the file name;
2. the file name, cleaned (`text_from_name`): split on `_`, `-`, commas and CamelCase; drop UCS
   category codes, channel layouts, creator/source ids, take numbers, sample-rate/bit-depth tokens;
3. the innermost meaningful folder name.
Folders (`<Publisher> - <Library>`, pack names) become labels, and optionally caption context.

MP3/MP4 previews beside a lossless file of the same stem are skipped; video containers become
`unsupported_container` rejects; files with no usable text at all become `malformed_row` rejects.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Iterator

from pipeline.corpora.audio_tags import read_tags
from pipeline.corpora.base import is_video, make_key, malformed_row, nfc, options_from_dict, walk_files
from pipeline.manifest import ManifestRow, Reject

log = logging.getLogger("audiogen")

LOSSLESS_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".aifc", ".w64", ".caf", ".bwf", ".rf64")

# Folder names that say nothing about the sound: bundle wrappers, format and rate folders.
DEFAULT_SKIP_FOLDERS = (
    r"(?i)^sonniss\.com\b.*",
    r"(?i).*\bgame audio bundle\b.*",
    r"(?i)^(wavs?|aiff?|flac|mp3s?|ogg|audio( files)?|files|sounds?|sfx|previews?|stereo|mono|surround|"
    r"multichannel|\d(\.\d)+|\d+\s?ch|[\d\s._-]*|\d+(\.\d)?\s?k(hz)?([\s_-]*\d+\s?-?bits?)?( float)?|"
    r"\d+\s?-?bits?( float)?)$",
)


@dataclass(frozen=True)
class LibraryConfig:
    """Options of one sound-library corpus (params.yaml `corpora.<name>`; each corpus module
    supplies its defaults). `root` and `enabled` belong to ingest and are ignored here."""

    license: str | None = None
    split: str = "train"
    use_tags: bool = True  # read bext/INFO/ID3/Vorbis text from the files
    name_caption: str = "fallback"  # "fallback": file-name text only without tags; "always": also add it
    folder_in_caption: bool = False  # append the library (innermost folder) name to every caption
    ucs_labels: bool = True  # map UCS category prefixes (LASR → laser) to labels
    preview_extensions: tuple[str, ...] = (".mp3", ".mp4", ".m4a")
    skip_folders: tuple[str, ...] = DEFAULT_SKIP_FOLDERS  # regexes (full match) of folder names to ignore
    folder_separator: str = " - "  # "<Publisher> - <Library>" → two labels

    @classmethod
    def from_options(cls, options: dict[str, Any] | None, defaults: dict[str, Any] | None = None,
                     corpus: str = "library") -> "LibraryConfig":
        # A null in params.yaml means "the corpus default", not "none".
        merged = {**(defaults or {}), **{k: v for k, v in (options or {}).items() if v is not None}}
        for name in ("preview_extensions", "skip_folders"):
            if name in merged:
                merged[name] = tuple(merged[name])
        cfg = options_from_dict(cls, merged, corpus)
        if cfg.name_caption not in ("fallback", "always"):
            raise ValueError(f"name_caption must be 'fallback' or 'always', got {cfg.name_caption!r}")
        return cfg


# --- file names → text -------------------------------------------------------------------------

# Common Universal Category System category prefixes (and spellings seen in vendors' files) → words.
UCS_CATEGORIES = {
    "AERO": "aircraft", "AIR": "air", "ALRM": "alarm", "AMB": "ambience", "ANML": "animal", "ARCH": "",
    "BEEP": "beep", "BELL": "bell", "BIRD": "bird", "BLLT": "bullet", "BOAT": "boat", "BODY": "body",
    "CERM": "ceramic", "CHAIN": "chain", "CHEM": "chemical", "CLOCK": "clock", "CLOTH": "cloth",
    "COMM": "communication", "COMP": "computer", "CREA": "creature", "CRWD": "crowd", "DEST": "destruction",
    "DIRT": "dirt", "DOOR": "door", "DRWR": "drawer", "DSGN": "designed", "ELEC": "electricity",
    "EQUIP": "equipment", "EXPL": "explosion", "FART": "fart", "FEET": "footsteps", "FGHT": "fight",
    "FIRE": "fire", "FIRWK": "fireworks", "FOLY": "foley", "FOOD": "food", "FOOT": "footsteps",
    "FURN": "furniture", "GAME": "game", "GEO": "geothermal", "GLAS": "glass", "GLASS": "glass", "GORE": "gore",
    "GUN": "gun", "GUNS": "gun", "HMN": "human", "HORN": "horn", "HUMN": "human", "ICE": "ice",
    "IMPT": "impact", "LASR": "laser", "LIQ": "liquid", "LTHR": "leather", "MACH": "machine",
    "MAGC": "magic", "MECH": "mechanical", "METL": "metal", "MOTR": "motor", "MOVE": "movement",
    "MUSC": "musical", "NTRL": "natural disaster", "OBJ": "object", "PAPR": "paper", "PLAS": "plastic",
    "RAIN": "rain", "ROBO": "robot", "ROCK": "rock", "ROPE": "rope", "RUBR": "rubber", "SCI": "sci-fi",
    "SCIFI": "sci-fi", "SNOW": "snow", "SPRT": "sports", "SWSH": "swoosh", "SWRD": "sword",
    "THUN": "thunder", "TOOL": "tool", "TOON": "cartoon", "TOY": "toy", "TRAN": "train", "TRN": "train",
    "UI": "user interface", "VEH": "vehicle", "VOX": "voice", "WATR": "water", "WEAP": "weapon",
    "WHSH": "whoosh", "WIND": "wind", "WNDW": "window", "WOOD": "wood", "WTHR": "weather",
}

_CATID = re.compile(r"^([A-Z]{2,7})([A-Z][a-z][A-Za-z0-9]*)$")
_UPPER_ID = re.compile(r"^(?=.*[A-Z])[A-Z0-9]{2,}$")  # creator / source ids: SFRMS, SCIWPNS, BOOM2
_CHANNEL_NAMES = (
    "LFE", "Lss", "Rss", "Lsr", "Rsr", "Lrs", "Rrs", "Ltf", "Rtf", "Ltr", "Rtr", "Ltm", "Rtm",
    "Ls", "Rs", "Lb", "Rb", "Lc", "Rc", "Lw", "Rw", "Lt", "Rt", "Cs", "L", "R", "C", "M", "S", "X", "Y", "W", "Z",
)
_CH = "(?:" + "|".join(_CHANNEL_NAMES) + ")"
_CHANNEL_LAYOUT = re.compile(rf"{_CH}(?:\s*[,.]\s*{_CH})*")
_CHANNEL_LIST = re.compile(rf"(?<![\w.]){_CH}(?:\s*[,.]\s*{_CH})+(?![\w])")
_RATE_DEPTH = re.compile(
    r"(?i)(?<![\w.])(?:(?:8|11|16|22|24|32|44|44\.1|48|88|88\.2|96|176|176\.4|192|384)\s?k(?:hz)?"
    r"|\d{1,2}\s?-?\s?bits?(?:\s?float)?|(?:16|24|32)\s?[bf]|\d+(?:\.\d+)?\s?khz)(?![\w])"
)
_TAKE = re.compile(r"(?i)(?<![\w])(?:take|tk|var|variation|version|ver|alt)\s?[.#]?\s?\d+[a-z]?(?![\w])")
_CHANNEL_TOKENS_CASED = {"LR", "LCR", "LCRS", "MS", "XY", "ST", "AB", "ORTF", "NOS", "DMS", "LFE", "MSD"}
_CHANNEL_TOKENS = {"stereo", "mono", "quad", "surround", "binaural", "ambisonic", "ambisonics", "ambix",
                   "fuma", "multichannel", "sfx", "fx"}
_CHANNEL_FORMAT = re.compile(r"(?i)^(?:\d\.\d(?:\.\d)?|\d+ch|[ab]-?format)$")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TRAILING_DIGITS = re.compile(r"^(.*[^\W\d_])(\d+)$")
_PHRASE_SPLIT = re.compile(r"\s*[,;]\s*|\s+-\s+")
# Word separators: anything but letters, digits and apostrophes; a dot only between digits survives.
_WORD_SPLIT = re.compile(r"(?:[^\w.']|_|(?<!\d)\.|\.(?!\d))+")


@dataclass(frozen=True)
class NameText:
    """What a file name says: `text` (lowercase phrases joined by ", "; "" when nothing is left),
    `category` (UCS category words, "" when none) and `catid` (the UCS CatID, "" when none)."""

    text: str
    category: str = ""
    catid: str = ""


def _catid(field: str, fields_: list[str]) -> tuple[str, str] | None:
    """(CatID, category words) when `field` (a name's first field) is a UCS CatID: the CatID shape
    plus a known category prefix, or a name that also carries upper-case creator/source ids."""
    m = _CATID.match(field)
    if not m:
        return None
    prefix = m.group(1)
    if prefix in UCS_CATEGORIES:
        return field, UCS_CATEGORIES[prefix]
    if len(fields_) >= 3 and any(_UPPER_ID.match(f.strip()) for f in fields_[2:]):
        return field, ""
    return None


def _words(phrase: str) -> list[str]:
    """One phrase → its words, CamelCase and trailing take digits split off, junk tokens dropped."""
    words: list[str] = []
    for chunk in _WORD_SPLIT.split(phrase):
        chunk = chunk.strip("'.")
        if not chunk:
            continue
        for part in _CAMEL.split(chunk):
            m = _TRAILING_DIGITS.match(part)
            # "Door03" → "Door", "03"; short heads stay whole ("V8", "Mk2").
            split_digits = m and len(m.group(1)) >= 3 and not re.search(r"\d", m.group(1))
            pieces = [m.group(1), m.group(2)] if split_digits else [part]
            for word in pieces:
                if (word in _CHANNEL_TOKENS_CASED or word.lower() in _CHANNEL_TOKENS
                        or _CHANNEL_FORMAT.match(word)):
                    continue
                words.append(word)
    # Trailing numbers are take/variation numbers ("Door Slam 03"); years (4+ digits) stay.
    while words and words[-1].isdigit() and len(words[-1]) <= 3:
        words.pop()
    return words


def clean_phrases(text: str) -> list[str]:
    """Free text from a name or folder → cleaned lowercase phrases (empty ones dropped)."""
    text = _CHANNEL_LIST.sub(" ", text)
    text = _RATE_DEPTH.sub(" ", text)
    text = _TAKE.sub(" ", text)
    out: list[str] = []
    for phrase in _PHRASE_SPLIT.split(text):
        words = _words(phrase)
        if words and not all(w.isdigit() for w in words):
            out.append(" ".join(words).lower())
    return out


def text_from_name(stem: str) -> NameText:
    """A file stem → its descriptive text.

    `LASRMisc_Beam Transient_04_SFRMS_SCIWPNS` → "beam transient" (category "laser");
    `RAINMetl-L,R,Ls,Rs_Australia-Rain, Metal Roof Shed, Wind Driven Rain, 13` →
    "australia rain, metal roof shed, wind driven rain"; `DoorSlamHeavyWood_03` → "door slam heavy wood".
    Fields (split on `_`) that clean to one word join with spaces; fields holding several words or
    phrases are phrases of their own, joined with ", ".
    """
    stem = nfc(stem).strip()
    fields_ = stem.split("_")
    catid = category = ""
    if fields_:
        head, _, rest = fields_[0].partition("-")
        found = _catid(head.strip(), fields_)
        if found:
            catid, category = found
            # What follows the CatID in the first field is a channel layout ("M", "L,R,Ls,Rs").
            fields_[0] = "" if _CHANNEL_LAYOUT.fullmatch(rest.strip()) else rest
    phrases: list[str] = []
    pending: list[str] = []  # consecutive one-word fields, joined by spaces
    for i, field in enumerate(fields_):
        raw = field.strip()
        if not raw:
            continue
        # In a UCS name, the fields after the FXName are creator/source ids unless they hold text.
        if catid and i >= 2 and _UPPER_ID.match(raw):
            continue
        cleaned = clean_phrases(raw)
        if not cleaned:
            continue
        if len(cleaned) == 1 and " " not in cleaned[0]:
            pending.append(cleaned[0])
            continue
        if pending:
            phrases.append(" ".join(pending))
            pending = []
        phrases.extend(cleaned)
    if pending:
        phrases.append(" ".join(pending))
    seen: list[str] = []
    for p in phrases:
        if p not in seen:
            seen.append(p)
    return NameText(text=", ".join(seen), category=category, catid=catid)


# --- tags and folders ---------------------------------------------------------------------------

_KEY_VALUE_LINE = re.compile(r"^\s*[A-Za-z_][\w]*\s*=")
_URL = re.compile(r"(?i)^(?:https?://|www\.)\S+$")


def descriptive_tag(text: str, stem: str) -> str | None:
    """A tag text as a caption, or None when it is not a description: recorder metadata
    (`sSPEED=...` lines in bext, as Sound Devices recorders write), a bare URL, fewer than two
    letters. A tag that holds a file name (the stem itself, or one `_`-joined token) is cleaned
    like a file name."""
    text = nfc(text).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or all(_KEY_VALUE_LINE.match(ln) for ln in lines) or _URL.match(text):
        return None
    if sum(ch.isalpha() for ch in text) < 2:
        return None
    bare = re.sub(r"(?i)\.(wav|flac|ogg|mp3|aiff?)$", "", text)
    looks_like_name = "_" in bare and (not re.search(r"\s", bare) or _CATID.match(re.split(r"[_-]", bare)[0]))
    if bare.lower() == stem.lower() or looks_like_name:
        return text_from_name(bare).text or None
    return text


@dataclass(frozen=True)
class FolderContext:
    """Labels from the folders (publisher, library, pack names, outermost first) and the cleaned
    text of the innermost one (the library), "" when no folder means anything."""

    labels: tuple[str, ...]
    library_text: str


def folder_context(parts: tuple[str, ...], cfg: LibraryConfig) -> FolderContext:
    skip = [re.compile(p) for p in cfg.skip_folders]
    labels: list[str] = []
    for part in parts:
        name = nfc(part).strip()
        if not name or any(p.fullmatch(name) for p in skip):
            continue
        pieces = [p.strip() for p in name.split(cfg.folder_separator)] if cfg.folder_separator else [name]
        labels.extend(p for p in pieces if p and p not in labels)
    library_text = ""
    for label in reversed(labels):
        library_text = ", ".join(clean_phrases(label))
        if library_text:
            break
    return FolderContext(labels=tuple(labels), library_text=library_text)


# --- walking ------------------------------------------------------------------------------------

def _preview_stem(stem: str) -> str:
    return re.sub(r"(?i)[\s_-]*\(?preview\)?$", "", stem).lower()


def find_previews(relative: list[PurePath], cfg: LibraryConfig) -> set[PurePath]:
    """Lossy files that duplicate a lossless one: same folder and stem (`x.mp3` beside `x.wav`,
    also `x_preview.mp3`), or inside a `Preview(s)` folder with the stem of a lossless file anywhere."""
    lossless_here: set[tuple[PurePath, str]] = set()
    lossless_any: set[str] = set()
    for rel in relative:
        if rel.suffix.lower() in LOSSLESS_EXTENSIONS:
            lossless_here.add((rel.parent, rel.stem.lower()))
            lossless_any.add(rel.stem.lower())
    previews: set[PurePath] = set()
    for rel in relative:
        if rel.suffix.lower() not in cfg.preview_extensions:
            continue
        stem = _preview_stem(rel.stem)
        in_preview_folder = any(re.fullmatch(r"(?i)previews?|mp3s?", p) for p in rel.parent.parts)
        if (rel.parent, stem) in lossless_here or (in_preview_folder and stem in lossless_any):
            previews.add(rel)
    return previews


def _drop_folder_phrases(text: str, folder_labels: tuple[str, ...]) -> str:
    """Drop phrases of a name that only repeat a folder label: "Odeon - Forest Stream" inside the
    "... - Odeon ..." library folder says "forest stream", not "odeon, forest stream"."""
    folder_words = {w for label in folder_labels for phrase in clean_phrases(label) for w in phrase.split()}
    phrases = [p for p in text.split(", ") if p]
    # Only a leading phrase, the place vendors put their brand; words inside the text stay.
    while len(phrases) > 1 and set(phrases[0].split()) <= folder_words:
        phrases.pop(0)
    return ", ".join(phrases)


def describe(path: Path, rel: PurePath, cfg: LibraryConfig) -> tuple[list[str], list[str]]:
    """(captions, labels) of one file; captions empty when nothing usable was found."""
    name = text_from_name(rel.stem)
    folders = folder_context(rel.parent.parts, cfg)
    captions: list[str] = []
    if cfg.use_tags:
        for text in read_tags(path).texts():
            caption = descriptive_tag(text, rel.stem)
            if caption:
                captions.append(caption)
                break
    # Only the top folder names the vendor/library; category folders ("Rain") are real content words.
    top = folder_context(rel.parent.parts[:1], cfg).labels if rel.parent.parts else ()
    name_text = _drop_folder_phrases(name.text, top)
    if name_text and (not captions or cfg.name_caption == "always") and name_text not in captions:
        captions.append(name_text)
    if not captions:
        fallback = name.category or folders.library_text
        if fallback:
            captions.append(fallback)
    if cfg.folder_in_caption and folders.library_text:
        captions = [c if c == folders.library_text else f"{c}, {folders.library_text}" for c in captions]
    labels: list[str] = []
    if cfg.ucs_labels and name.category:
        labels.append(name.category)
    labels.extend(lab for lab in folders.labels if lab not in labels)
    return captions, labels


def read_library(corpus: str, root: Path, options: dict[str, Any] | None,
                 defaults: dict[str, Any] | None = None) -> Iterator[ManifestRow | Reject]:
    """Every audio file below `root` → a ManifestRow (or a Reject), in sorted path order.

    A missing root or bad options raise here, at the call, not at the first row."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{corpus}: corpus folder {root} not found (expected the vendor's "
                                f"unpacked folders of audio files there)")
    cfg = LibraryConfig.from_options(options, defaults, corpus)
    return _iter_library(corpus, root, cfg)


def _iter_library(corpus: str, root: Path, cfg: LibraryConfig) -> Iterator[ManifestRow | Reject]:
    files = walk_files(root)
    relative = [PurePath(p.relative_to(root).as_posix()) for p in files]
    previews = find_previews(relative, cfg)
    for rel in relative:
        if rel in previews:
            continue
        source = rel.as_posix()
        key = make_key(corpus, source)
        audio_path = str(root / rel)
        if is_video(rel):
            yield Reject(stage="ingest", reason="unsupported_container", source=source, key=key, corpus=corpus,
                         detail=f"{audio_path}: a video container; extract the audio track, e.g. "
                                f"`ffmpeg -i '{rel.name}' -vn -c:a flac '{rel.stem}.flac'`", audio_path=audio_path)
            continue
        captions, labels = describe(root / rel, rel, cfg)
        if not captions:
            yield malformed_row(corpus, source, f"{audio_path}: no description in its tags, file name "
                                                f"or folders", key=key, audio_path=audio_path)
            continue
        yield ManifestRow(
            key=key, corpus=corpus, split=cfg.split, audio_path=audio_path, source=source,
            offset_s=0.0, duration_s=None, captions=captions, caption=captions[0],
            labels=labels, label_ids=[], license=cfg.license,
        )
