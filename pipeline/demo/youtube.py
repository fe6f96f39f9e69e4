"""Demo layouts of the YouTube corpora: AudioSet, AudioCaps and VGGSound (CORPORA.md).

Metadata files are written exactly as distributed (AudioSet's `#` header lines and comma+space
rows, AudioCaps' five rows per val/test clip, VGGSound's headerless CSV); audio files use the
downloader naming patterns of CORPORA.md "YouTube file names". Cross-corpus planted cases (one
segment in all three corpora, an AudioCaps test video that leaks into AudioSet and VGGSound
training) come in through `Shared`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.demo.catalog import CLASSES, KINDS, NON_SPEECH, Scene, captions, class_name, ontology, random_scene
from pipeline.demo.voice import SENTENCES
from pipeline.demo.writer import CorpusWriter, YoutubeIds


@dataclass
class Shared:
    """Planted cases shared between corpora (chosen once in pipeline.demo)."""

    ids: YoutubeIds
    dup_id: str            # same id+start in AudioSet balanced, AudioCaps train, VGGSound train
    dup_start: int
    dup_scene: Scene
    leak_id: str           # AudioCaps test video, also in AudioSet unbalanced and VGGSound train
    leak_start: int
    leak_scene: Scene
    freesound_dup: int     # same Freesound id in Clotho development and FSD50K dev
    freesound_scene: Scene


def _paper(texts: list[str]) -> bool:
    """The paper's literal rule: the word 'speech' in a tag or caption."""
    return any("speech" in t.lower() for t in texts)


def speech_fields(scene: Scene, texts: list[str]) -> dict:
    modes = (["strict"] if scene.speech else []) + (["paper"] if _paper(texts) else [])
    return {"speech": scene.speech, "speech_modes": modes, "kinds": list(scene.kinds)}


def _yt_scene(rng, pool=NON_SPEECH) -> Scene:
    return random_scene(rng, pool)


# ---------------------------------------------------------------------------------------------
def write_audioset(w: CorpusWriter, sh: Shared) -> None:
    rng = w.rng("plan")
    files = {"balanced_train_segments.csv": [], "unbalanced_train_segments.csv": [], "eval_segments.csv": []}
    examples: dict[str, list[str]] = {}

    def row(fname: str, yid: str, start: float, end: float, mids: list[str]) -> int:
        files[fname].append(f'{yid}, {start:.3f}, {end:.3f}, "{",".join(mids)}"')
        return len(files[fname]) + 3  # three '#' header lines

    def segment(fname, split, scene, audio_rel, *, yid=None, start=None, seconds=None, whole=None, sr=32000,
                channels=1, fmt="WAV", subtype="PCM_16", broken=None, missing=False, ident=None, spoken=None):
        yid = yid or sh.ids.new()
        start = float(start if start is not None else int(rng.integers(0, 30)) * 10)
        seconds = seconds or round(float(rng.uniform(2.5, 5.0)), 3)
        window = 10.0 if whole else seconds
        mids = scene.mids()
        line = row(fname, yid, start, start + window, mids)
        for m in mids:
            examples.setdefault(m, []).append(yid)
        source = f"{fname}:{line}"
        if missing:
            w.reject("missing_audio", source, youtube_id=yid, youtube_start_s=start)
            return
        rel = audio_rel.format(id=yid, start=int(start), end=int(start + window))
        ident = ident or f"yt:{yid}:{int(start)}"
        fields = w.audio(rel, scene, whole or seconds, sr=sr, channels=channels, fmt=fmt, subtype=subtype,
                         ident=ident, broken=broken, spoken=spoken)
        labels = [class_name(m) for m in mids]
        w.clip(source=source, split=split, youtube_id=yid, youtube_start_s=start, freesound_id=None,
               duration_s=window, offset_s=start if whole else 0.0, whole_video=bool(whole),
               labels=labels, label_ids=mids, caption=", ".join(labels), captions=[", ".join(labels)],
               **fields, **speech_fields(scene, labels))

    bal, unbal, ev = "balanced_train_segments.csv", "unbalanced_train_segments.csv", "eval_segments.csv"
    # balanced: 48 kHz FLAC segments in audio/bal_train/<id>.flac
    segment(bal, "train", sh.dup_scene, "audio/bal_train/{id}.flac", yid=sh.dup_id, start=sh.dup_start,
            seconds=10.0, sr=48000)
    segment(bal, "train", Scene(("speech_male", "dog"), "with"), "audio/bal_train/{id}.flac", sr=48000)
    for i in range(8):
        segment(bal, "train", _yt_scene(rng), "audio/bal_train/{id}.flac", sr=48000,
                channels=1 + i % 2, subtype="PCM_24" if i % 3 == 0 else "PCM_16")
    # unbalanced: PANNs-style Y<id>.wav (32 kHz mono), one whole video, planted speech and rejects
    segment(unbal, "train", sh.leak_scene, "unbalanced/Y{id}.wav", yid=sh.leak_id, start=sh.leak_start,
            seconds=10.0)
    segment(unbal, "train", Scene(("conversation",)), "unbalanced/Y{id}.wav")   # Conversation only
    segment(unbal, "train", Scene(("babble", "clock"), "with"), "unbalanced/Y{id}.wav")  # Hubbub
    segment(unbal, "train", Scene(("narration",)), "unbalanced/Y{id}.wav")
    segment(unbal, "train", Scene(("speech_child",)), "unbalanced/Y{id}.wav")
    segment(unbal, "train", Scene(("siren", "engine_idle"), "with"), "whole_videos/{id}.ogg", start=3,
            whole=15.0, sr=44100, channels=2, fmt="OGG", subtype="VORBIS")
    segment(unbal, "train", _yt_scene(rng), "unbalanced/Y{id}.wav", broken="garbage")
    segment(unbal, "train", _yt_scene(rng), "", missing=True)
    for _ in range(7):
        segment(unbal, "train", _yt_scene(rng), "unbalanced/Y{id}.wav")
    bad = sh.ids.new()[:10]  # an id mangled by a spreadsheet: 10 characters
    line = row(unbal, bad, 40.0, 50.0, ["/m/0bt9lr"])
    w.reject("malformed_row", f"{unbal}:{line}", detail=f"YouTube id {bad!r} is not 11 characters")
    segment(unbal, "train", _yt_scene(rng), "", missing=True)
    # rain that someone talks over, labelled Rain only: only the audio speech filter can find it
    segment(unbal, "train", Scene(("rain",)), "unbalanced/Y{id}.wav", seconds=10.0, spoken=SENTENCES[0])
    # eval: <id>_<start>.flac and one Y<id>_<start>_<end>.wav
    segment(ev, "test", Scene(("speech_female",)), "eval/{id}_{start}.flac", sr=48000)
    segment(ev, "test", _yt_scene(rng), "eval/Y{id}_{start}.000_{end}.000.wav", sr=44100, channels=2)
    for i in range(6):
        segment(ev, "test", _yt_scene(rng), "eval/{id}_{start}.flac", sr=48000 if i % 2 else 32000)

    for fname, rows in files.items():
        head = [
            "# Segments csv created Sun Mar  5 10:54:31 2017",
            f"# num_ytids={len(rows)}, num_segs={len(rows)}, num_unique_labels={len(CLASSES)}, "
            f"num_positive_labels={sum(r.count('/') // 2 for r in rows)}",
            "# YTID, start_seconds, end_seconds, positive_labels",
        ]
        w.text(fname, "\n".join(head + rows) + "\n")
    w.text("class_labels_indices.csv", "index,mid,display_name\n" + "".join(
        f'{idx},{mid},"{name}"\n' for mid, (idx, name) in sorted(CLASSES.items(), key=lambda kv: kv[1][0])))
    w.text("ontology.json", json.dumps(ontology(examples), indent=1, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
def write_audiocaps(w: CorpusWriter, sh: Shared) -> None:
    rng = w.rng("plan")
    header = ["audiocap_id", "youtube_id", "start_time", "caption"]
    tables: dict[str, list[list]] = {"train.csv": [], "val.csv": [], "test.csv": []}
    cap_id = [int(rng.integers(100, 1000))]

    def clip(fname, split, scene, *, yid=None, start=None, seconds=None, caps=None, pattern="{split}/{id}_{start}.flac",
             broken=None, missing=False):
        yid = yid or sh.ids.new()
        start = int(start if start is not None else rng.integers(0, 300))
        k = 1 if fname == "train.csv" else 5
        caps = caps or captions(scene, w.rng("captions", yid), k)
        first = len(tables[fname]) + 2
        for c in caps:
            cap_id[0] += int(rng.integers(1, 400))
            tables[fname].append([cap_id[0], yid, start, c])
        source = f"{fname}:{first}"
        if missing:
            w.reject("missing_audio", source, youtube_id=yid, youtube_start_s=float(start))
            return
        rel = pattern.format(split=fname[:-4], id=yid, start=start)
        fields = w.audio(rel, scene, seconds or round(float(rng.uniform(2.0, 5.0)), 3), sr=32000,
                         fmt="FLAC" if rel.endswith(".flac") else "WAV", ident=f"yt:{yid}:{start}", broken=broken)
        w.clip(source=source, lines=[f"{fname}:{first + i}" for i in range(len(caps))], split=split,
               youtube_id=yid, youtube_start_s=float(start), freesound_id=None, duration_s=10.0, offset_s=0.0,
               whole_video=False, labels=[], label_ids=[], caption=caps[0], captions=caps,
               **fields, **speech_fields(scene, caps))

    clip("train.csv", "train", sh.dup_scene, yid=sh.dup_id, start=sh.dup_start, seconds=10.0)
    clip("train.csv", "train", Scene(("speech_male", "rain"), "with"),
         caps=["A man speaks, with steady rain falling in the background"])
    clip("train.csv", "train", Scene(("bell",)), caps=['A large bell rings out a deep "dong", again and again'])
    clip("train.csv", "train", random_scene(rng), pattern="train/Y{id}.wav")
    clip("train.csv", "train", random_scene(rng), broken="truncated")
    clip("train.csv", "train", random_scene(rng), missing=True)
    for _ in range(14):
        clip("train.csv", "train", random_scene(rng))
    for _ in range(4):
        clip("val.csv", "valid", random_scene(rng))
    clip("test.csv", "test", sh.leak_scene, yid=sh.leak_id, start=sh.leak_start, seconds=10.0)
    clip("test.csv", "test", Scene(("speech_male", "dog"), "then"))  # eval rows are never speech-filtered
    for _ in range(4):
        clip("test.csv", "test", random_scene(rng))
    for fname, rows in tables.items():
        w.csv(fname, rows, header=header)


# ---------------------------------------------------------------------------------------------
def write_vggsound(w: CorpusWriter, sh: Shared) -> None:
    rng = w.rng("plan")
    rows: list[list] = []
    labelled = tuple(k for k in NON_SPEECH if KINDS[k].vggsound)

    def clip(split, kind, *, yid=None, start=None, seconds=None, ext=".wav", broken=None, missing=False,
             mp4=False, ident=None, scene=None):
        yid = yid or sh.ids.new()
        start = int(start if start is not None else rng.integers(0, 300))
        scene = scene or Scene((kind,))
        label = KINDS[scene.kinds[0]].vggsound
        rows.append([yid, start, label, split])
        source = f"vggsound.csv:{len(rows)}"
        stem = f"{yid}_{start:06d}"
        if mp4:
            # a video file only (the distributed form): an 'ftyp' box and nothing decodable
            w.blob(f"video/{stem}.mp4", b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + rng.bytes(512), skipped=False)
            w.reject("unsupported_container", source, youtube_id=yid, audio=f"video/{stem}.mp4")
            return
        if missing:
            w.reject("missing_audio", source, youtube_id=yid, youtube_start_s=float(start))
            return
        # extracted tracks: 16 kHz mono WAV or 44.1 kHz stereo FLAC
        fields = w.audio(f"audio/{stem}{ext}", scene, seconds or round(float(rng.uniform(2.0, 5.0)), 3),
                         sr=16000 if ext == ".wav" else 44100, channels=1 if ext == ".wav" else 2,
                         fmt="FLAC" if ext == ".flac" else "WAV", ident=ident or f"yt:{yid}:{start}", broken=broken)
        w.clip(source=source, split=split, youtube_id=yid, youtube_start_s=float(start), freesound_id=None,
               duration_s=10.0, offset_s=0.0, whole_video=False, labels=[label], label_ids=[label],
               caption=label, captions=[label], **fields, **speech_fields(scene, [label]))

    clip("train", None, yid=sh.dup_id, start=sh.dup_start, seconds=10.0, scene=sh.dup_scene)
    # the leaked video with another start time: the guard must match on the id alone
    clip("train", None, yid=sh.leak_id, start=sh.leak_start + 20, scene=Scene(sh.leak_scene.kinds[:1]))
    clip("train", "speech_male")
    clip("train", "speech_female", ext=".flac")
    clip("train", "rain", broken="garbage", ext=".flac")
    clip("train", "dog", missing=True)
    clip("train", "siren", mp4=True)
    for i in range(13):
        clip("train", str(rng.choice(labelled)), ext=".flac" if i % 3 == 0 else ".wav")
    for i in range(5):
        clip("test", str(rng.choice(labelled)), ext=".flac" if i % 2 else ".wav")
    w.csv("vggsound.csv", rows)
