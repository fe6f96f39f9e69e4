"""Demo layouts of the Freesound corpora: Clotho v2 and FSD50K (CORPORA.md).

Clotho: UTF-8 caption CSVs, ISO-8859-1 metadata CSVs, file names with spaces, commas, accents and a
leading space or underscore. FSD50K: ground truth with labels propagated to the root, vocabulary
without header, clip-info JSON, dev/eval audio folders. One Freesound id is in both corpora.
"""
from __future__ import annotations

import json

from pipeline.demo.catalog import KINDS, NON_SPEECH, Scene, ancestors, captions, fsd_label, random_scene
from pipeline.demo.voice import SENTENCES
from pipeline.demo.writer import CorpusWriter
from pipeline.demo.youtube import Shared, speech_fields

LICENSES = ("http://creativecommons.org/licenses/by/3.0/", "http://creativecommons.org/publicdomain/zero/1.0/",
            "http://creativecommons.org/licenses/by-nc/3.0/")
USERS = ("Jörg_Fieldrec", "mélanie.sons", "jose_garcía", "sound-hunter", "Ångström_audio", "naturefan99")
# File-name stems per kind (latin-1 only: the metadata CSV is ISO-8859-1).
NAME_STEMS = {
    "siren": "siren passing", "rain": "Rain on the roof", "wind": "viento fuerte - wind", "stream": "Bach, Wasser",
    "thunder": "thunder rumble", "engine_idle": "old engine idle", "engine_rev": "moteur revving",
    "clock": "Café clock ticking", "birds": "birds at dawn", "dog": "dog's bark", "bell": "église bell",
    "chime": "wind chimes", "footsteps": "footsteps on wood", "knock": "knock knock", "applause": "applause",
    "beeps": "beeps", "speech_male": "man talking", "speech_female": "woman speaking",
}
PREFIXES = ("", "", " ", "_", "")
SUFFIXES = ("", ", take 2", " (edit)", " #3", "_01", " - señor", " ñ", "")
# The first development files always carry the quirks adapters must survive (any seed).
FORCED = ((" ", ""), ("_", ""), ("", ", take 2"), ("", " - señor"))


def _content_words(text: str) -> list[str]:
    return [word for word in text.split() if len(word) > 2 and word not in ("the", "and", "with")]


def _freesound_ids(w: CorpusWriter, lo: int, hi: int):
    """Unique Freesound ids; Clotho and FSD50K draw from disjoint ranges so the only shared id is
    the planted one (drawn above both ranges)."""
    rng = w.rng("freesound-ids")
    used: set[int] = set()
    while True:
        fid = int(rng.integers(lo, hi))
        if fid not in used:
            used.add(fid)
            yield fid


def write_clotho(w: CorpusWriter, sh: Shared) -> None:
    rng = w.rng("plan")
    ids = _freesound_ids(w, 1000, 300000)
    splits = {"development": "train", "validation": "valid", "evaluation": "test"}
    caps_rows: dict[str, list[list]] = {s: [] for s in splits}
    meta_rows: dict[str, list[list]] = {s: [] for s in splits}
    names: set[str] = set()

    def clip(folder, scene, *, fid=None, broken=None, missing=False, seconds=None, spoken=None):
        fid = fid or next(ids)
        while True:
            stem = NAME_STEMS.get(scene.kinds[0], scene.kinds[0])
            prefix, suffix = FORCED[len(names)] if len(names) < len(FORCED) else (rng.choice(PREFIXES),
                                                                                   rng.choice(SUFFIXES))
            name = f"{prefix}{stem}{suffix}.wav"
            if name not in names:
                names.add(name)
                break
        caps = captions(scene, w.rng("captions", name), 5)
        caps_rows[folder].append([name, *caps])
        user = str(rng.choice(USERS))
        keywords = ";".join(dict.fromkeys(word for k in scene.kinds for word in _content_words(KINDS[k].nouns[0])))
        span = "" if rng.random() < 0.5 else f"[0, {int(rng.integers(15, 30)) * 44100}]"
        lic = str(rng.choice(LICENSES))
        meta_rows[folder].append([name, keywords, fid, f"https://freesound.org/people/{user}/sounds/{fid}/",
                                  span, user, lic])
        source = f"clotho_captions_{folder}.csv:{len(caps_rows[folder]) + 1}"
        if missing:
            w.reject("missing_audio", source, freesound_id=str(fid), audio=f"{folder}/{name}")
            return
        seconds = seconds or round(float(rng.uniform(1.5, 5.0)), 3)
        fields = w.audio(f"{folder}/{name}", scene, seconds, sr=44100, ident=f"freesound:{fid}", broken=broken,
                         spoken=spoken)
        w.clip(source=source, split=splits[folder], youtube_id=None, youtube_start_s=None, freesound_id=str(fid),
               duration_s=None, offset_s=0.0, labels=[k for k in keywords.split(";") if k], label_ids=[],
               caption=caps[0], captions=caps, license=lic,
               **fields, **speech_fields(scene, caps))

    clip("development", sh.freesound_scene, fid=sh.freesound_dup)
    clip("development", Scene(("speech_male", "footsteps"), "with"))
    clip("development", random_scene(rng), broken="garbage")
    clip("development", random_scene(rng), missing=True)
    for _ in range(11):
        clip("development", random_scene(rng))
    for _ in range(4):
        clip("validation", random_scene(rng))
    for _ in range(4):
        clip("evaluation", random_scene(rng))
    # a stream recording with a passer-by talking, captioned as water only (the audio filter's case)
    clip("development", Scene(("stream",)), seconds=8.0, spoken=SENTENCES[1])
    for folder in splits:
        w.csv(f"clotho_captions_{folder}.csv", caps_rows[folder],
              header=["file_name"] + [f"caption_{i}" for i in range(1, 6)])
        w.csv(f"clotho_metadata_{folder}.csv", meta_rows[folder], encoding="iso-8859-1",
              header=["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer",
                      "license"])


def fsd_labels(scene: Scene) -> tuple[list[str], list[str]]:
    """Labels and mids of a scene, propagated up to the root, leaf first (FSD50K ground truth)."""
    mids: list[str] = []
    for mid in sorted(scene.mids(), key=lambda m: -len(ancestors(m))):  # deepest class first
        for m in ancestors(mid):
            if m not in mids:
                mids.append(m)
    return [fsd_label(m) for m in mids], mids


def write_fsd50k(w: CorpusWriter, sh: Shared) -> None:
    rng = w.rng("plan")
    ids = _freesound_ids(w, 300000, 600000)
    dev: list[list] = []
    ev: list[list] = []
    info: dict[str, dict[str, dict]] = {"dev": {}, "eval": {}}
    vocab: set[tuple[str, str]] = set()

    def clip(part, split, scene, *, fid=None, broken=None, missing=False):
        fid = fid or next(ids)
        labels, mids = fsd_labels(scene)
        vocab.update(zip(labels, mids))
        row = [fid, ",".join(labels), ",".join(mids)] + ([split] if part == "dev" else [])
        (dev if part == "dev" else ev).append(row)
        kind = KINDS[scene.kinds[0]]
        lic = str(rng.choice(LICENSES))
        info[part][str(fid)] = {
            "title": f"{kind.nouns[0].replace(' ', '_')}_{int(rng.integers(1, 40)):02d}.wav",
            "description": f"{kind.clauses[0].capitalize()}. Recorded with a handheld recorder, no processing.",
            "tags": sorted({word for k in scene.kinds for word in _content_words(KINDS[k].nouns[0])}),
            "license": lic,
            "uploader": str(rng.choice(USERS)),
        }
        gt = "FSD50K.ground_truth/dev.csv" if part == "dev" else "FSD50K.ground_truth/eval.csv"
        source = f"{gt}:{len(dev if part == 'dev' else ev) + 1}"
        rel = f"FSD50K.{part}_audio/{fid}.wav"
        if missing:
            w.reject("missing_audio", source, freesound_id=str(fid), audio=rel)
            return
        fields = w.audio(rel, scene, round(float(rng.uniform(0.5, 4.0)), 3), sr=44100, ident=f"freesound:{fid}",
                         broken=broken)
        names = [lab.replace("_", " ") for lab in labels]
        w.clip(source=source, split={"train": "train", "val": "valid", "eval": "test"}[split], youtube_id=None,
               youtube_start_s=None, freesound_id=str(fid), duration_s=None, offset_s=0.0, labels=names,
               label_ids=mids, caption=", ".join(names), captions=[", ".join(names)], license=lic,
               description=info[part][str(fid)]["description"], **fields, **speech_fields(scene, labels))

    clip("dev", "train", sh.freesound_scene, fid=sh.freesound_dup)
    clip("dev", "train", Scene(("speech_male",)))
    clip("dev", "train", Scene(("conversation", "applause"), "then"))
    clip("dev", "train", random_scene(rng), broken="garbage")
    clip("dev", "train", random_scene(rng), missing=True)
    for _ in range(10):
        clip("dev", "train", random_scene(rng))
    for _ in range(3):
        clip("dev", "val", random_scene(rng))
    clip("eval", "eval", Scene(("speech_female", "birds"), "with"))
    for _ in range(4):
        clip("eval", "eval", Scene((str(rng.choice(NON_SPEECH)),)))
    w.csv("FSD50K.ground_truth/dev.csv", dev, header=["fname", "labels", "mids", "split"])
    w.csv("FSD50K.ground_truth/eval.csv", ev, header=["fname", "labels", "mids"])
    w.csv("FSD50K.ground_truth/vocabulary.csv", [[i, lab, mid] for i, (lab, mid) in enumerate(sorted(vocab))])
    for part, clips in info.items():
        w.text(f"FSD50K.metadata/{part}_clips_info_FSD50K.json",
               json.dumps(clips, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
