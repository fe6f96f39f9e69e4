"""The embedded demo corpora (pipeline.demo): official layouts and quirks, decodable audio with
varied formats, planted cases listed consistently in demo_expectations.json, determinism."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import soundfile as sf

from pipeline.demo import CORPORA, EXPECTATIONS, write_demo
from pipeline.demo.catalog import speech_subtree
from pipeline.demo.writer import _riff_chunks

YT_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
SPEECH_PATTERNS = ("speaks", "talking", "speech", "narrat", "conversation", "announc")
OFFICIAL = {
    "audioset": ["balanced_train_segments.csv", "unbalanced_train_segments.csv", "eval_segments.csv",
                 "class_labels_indices.csv", "ontology.json"],
    "audiocaps": ["train.csv", "val.csv", "test.csv"],
    "clotho": [f"clotho_{kind}_{split}.csv" for kind in ("captions", "metadata")
               for split in ("development", "validation", "evaluation")],
    "vggsound": ["vggsound.csv"],
    "fsd50k": ["FSD50K.ground_truth/dev.csv", "FSD50K.ground_truth/eval.csv", "FSD50K.ground_truth/vocabulary.csv",
               "FSD50K.metadata/dev_clips_info_FSD50K.json", "FSD50K.metadata/eval_clips_info_FSD50K.json"],
    "bbc_sound_effects": ["BBCSoundEffects.csv"],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    doc = write_demo(out, seed=0)
    return out, doc


def _rows(path: Path, encoding: str = "utf-8", **kw) -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.reader(f, **kw))


def _line(root: Path, source: str, encoding: str = "utf-8") -> str:
    fname, line = source.rsplit(":", 1)
    return (root / fname).read_text(encoding=encoding).splitlines()[int(line) - 1]


def _all_clips(doc):
    return [c for corpus in doc["corpora"].values() for c in corpus["clips"]]


def test_every_corpus_has_its_official_metadata(demo):
    out, doc = demo
    assert sorted(doc["corpora"]) == sorted(CORPORA) and len(CORPORA) == 10
    for name in CORPORA:
        assert (out / name).is_dir()
        for rel in OFFICIAL.get(name, []):
            assert (out / name / rel).is_file(), f"{name}/{rel}"
            assert rel in doc["corpora"][name]["metadata"]
        for rel in doc["corpora"][name]["metadata"]:
            assert (out / name / rel).is_file()


def test_audioset_csv_quirks_and_ontology(demo):
    out, doc = demo
    root = out / "audioset"
    classes = {r[1]: r[2] for r in _rows(root / "class_labels_indices.csv")[1:]}
    assert _rows(root / "class_labels_indices.csv")[0] == ["index", "mid", "display_name"]
    assert classes["/m/05zppz"] == "Male speech, man speaking"  # a quoted name with a comma
    assert '"Male speech, man speaking"' in (root / "class_labels_indices.csv").read_text()
    onto = {c["id"]: c for c in json.loads((root / "ontology.json").read_text())}
    for c in onto.values():
        assert set(c) == {"id", "name", "description", "citation_uri", "positive_examples", "child_ids",
                          "restrictions"}
        assert all(k in onto for k in c["child_ids"])
    assert onto["/m/09l8g"]["name"] == "Human voice" and "/m/09x0r" in onto["/m/09l8g"]["child_ids"]
    assert set(onto["/m/09x0r"]["child_ids"]) == {"/m/05zppz", "/m/02zsn", "/m/0ytgt", "/m/01h8n0", "/m/02qldy",
                                                  "/m/0261r1", "/m/0brhx"}
    assert onto["/m/07qfr4h"]["name"] == "Hubbub, speech noise, speech babble"
    assert onto["/m/0bt9lr"]["name"] == "Dog" and onto["/m/05tny_"]["name"] == "Bark"
    ids, label_sets = [], []
    for fname in ("balanced_train_segments.csv", "unbalanced_train_segments.csv", "eval_segments.csv"):
        lines = (root / fname).read_text().splitlines()
        assert [ln[0] for ln in lines[:3]] == ["#"] * 3
        assert lines[2] == "# YTID, start_seconds, end_seconds, positive_labels"
        assert all(", " in ln for ln in lines[3:])  # comma + space separators
        for row in csv.reader(lines[3:], skipinitialspace=True):
            assert len(row) == 4
            ids.append(row[0])
            label_sets.append(row[3].split(","))
            assert float(row[2]) > float(row[1])
            assert all(m in onto and m in classes for m in row[3].split(","))
    bad = [i for i in ids if not YT_ID.match(i)]
    assert len(bad) == 1 and len(bad[0]) == 10  # the one mangled id
    assert ["/m/01h8n0"] in label_sets  # Conversation alone, no Speech
    assert any("/m/07qfr4h" in s for s in label_sets)
    assert any(i.startswith("-") for i in ids) and any("_" in i for i in ids)


def test_audiocaps_five_captions_quotes_and_commas(demo):
    out, doc = demo
    root = out / "audiocaps"
    for fname in ("train.csv", "val.csv", "test.csv"):
        rows = _rows(root / fname)
        assert rows[0] == ["audiocap_id", "youtube_id", "start_time", "caption"]
        per_clip = Counter((r[1], r[2]) for r in rows[1:])
        if fname != "train.csv":
            assert set(per_clip.values()) == {5}
        assert all(YT_ID.match(r[1]) and r[2].isdigit() for r in rows[1:])
    train_text = (root / "train.csv").read_text()
    assert '""' in train_text and any("," in r[3] for r in _rows(root / "train.csv")[1:])
    for clip in doc["corpora"]["audiocaps"]["clips"]:
        for k, src in enumerate(clip.get("lines", [clip["source"]])):
            row = next(csv.reader([_line(root, src)]))
            assert row[1] == clip["youtube_id"] and row[3] == clip["captions"][k]


def test_clotho_encodings_and_file_names(demo):
    out, doc = demo
    root = out / "clotho"
    names = []
    for split in ("development", "validation", "evaluation"):
        caps = _rows(root / f"clotho_captions_{split}.csv")
        assert caps[0] == ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
        assert all(len(r) == 6 for r in caps[1:])
        raw = (root / f"clotho_metadata_{split}.csv").read_bytes()
        meta = _rows(root / f"clotho_metadata_{split}.csv", encoding="iso-8859-1")
        assert meta[0] == ["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer",
                           "license"]
        assert [r[0] for r in meta[1:]] == [r[0] for r in caps[1:]]
        if split == "development":
            assert re.search(rb"[\xc0-\xff]", raw)  # accents, in latin-1
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        names += [r[0] for r in caps[1:]]
    assert any(n.startswith(" ") for n in names) and any(n.startswith("_") for n in names)
    assert any("," in n for n in names) and any(not n.isascii() for n in names)
    on_disk = {p.name for p in root.rglob("*.wav")}
    assert any(n.startswith(" ") for n in on_disk) and any(not n.isascii() for n in on_disk)


def test_vggsound_headerless_quoted_labels_and_mp4(demo):
    out, doc = demo
    root = out / "vggsound"
    rows = _rows(root / "vggsound.csv")
    assert all(len(r) == 4 and r[3] in ("train", "test") and YT_ID.match(r[0]) for r in rows)  # no header
    assert '"male speech, man speaking"' in (root / "vggsound.csv").read_text()
    assert list(root.rglob("*.mp4"))
    (mp4,) = [r for r in doc["corpora"]["vggsound"]["rejects"] if r["reason"] == "unsupported_container"]
    stem = Path(mp4["audio"]).stem
    assert not [p for p in root.rglob(stem + ".*") if p.suffix != ".mp4"]
    assert any(re.fullmatch(r".{11}_\d{6}\.(wav|flac)", p.name) for p in root.rglob("*"))


def test_fsd50k_ground_truth_is_propagated(demo):
    out, doc = demo
    gt = out / "fsd50k" / "FSD50K.ground_truth"
    dev, ev = _rows(gt / "dev.csv"), _rows(gt / "eval.csv")
    assert dev[0] == ["fname", "labels", "mids", "split"] and ev[0] == ["fname", "labels", "mids"]
    vocab = _rows(gt / "vocabulary.csv")
    assert vocab[0][0] == "0" and all(len(r) == 3 for r in vocab)  # no header
    vocab_map = {r[1]: r[2] for r in vocab}
    info = json.loads((out / "fsd50k" / "FSD50K.metadata" / "dev_clips_info_FSD50K.json").read_text())
    speech_mids = speech_subtree()
    n_speech = 0
    for r in dev[1:] + ev[1:]:
        labels, mids = r[1].split(","), r[2].split(",")
        assert len(labels) == len(mids) and all(vocab_map[lab] == m for lab, m in zip(labels, mids))
        if "Male_speech_and_man_speaking" in labels or "Conversation" in labels:
            assert {"Speech", "Human_voice"} <= set(labels)
        n_speech += bool(speech_mids & set(mids))
    assert n_speech >= 3
    assert {r[3] for r in dev[1:]} == {"train", "val"}
    assert {r[0] for r in dev[1:]} == set(info)
    assert {"title", "description", "tags", "license", "uploader"} <= set(next(iter(info.values())))


def test_bbc_quoting_provenance_and_both_layouts(demo):
    out, doc = demo
    root = out / "bbc_sound_effects"
    lines = (root / "BBCSoundEffects.csv").read_text().splitlines()
    assert all(re.fullmatch(r'"[^"]*"(,"[^"]*")*', ln) for ln in lines)  # every field quoted
    rows = _rows(root / "BBCSoundEffects.csv")
    assert rows[0] == ["location", "description", "secs", "category", "CDNumber", "CDName", "tracknum"]
    assert all(re.fullmatch(r"\d{8}\.wav", r[0]) for r in rows[1:])
    assert any(r[3] == "" for r in rows[1:]) and any(r[1].endswith(")") for r in rows[1:])
    clips = doc["corpora"]["bbc_sound_effects"]["clips"]
    assert any("/" not in c["audio"] for c in clips)
    assert any(c["audio"].startswith("sounds/") and c["audio"].endswith("." + c["location"]) for c in clips)
    assert sum(c["file_seconds"] >= 19 for c in clips) >= 2
    for c in clips:
        assert c["description"].startswith(c["caption"][:-1]) and "(" not in c["caption"]


def test_sound_libraries_quirks(demo):
    out, doc = demo
    for name in ("free_to_use_sounds", "sonniss", "wesoundeffects", "odeon"):
        root = out / name
        clips = doc["corpora"][name]["clips"]
        assert len(clips) >= 10 and all(c["source"] == c["audio"] for c in clips)
        assert all(len(Path(c["audio"]).parts) >= 2 for c in clips)  # nested vendor folders
        assert doc["corpora"][name]["skipped_files"]
        for rel in doc["corpora"][name]["skipped_files"]:
            assert (root / rel).is_file()
    all_lib = [c for n in ("free_to_use_sounds", "sonniss", "wesoundeffects", "odeon")
               for c in doc["corpora"][n]["clips"]]
    assert any(c["audio"].endswith(".WAV") for c in all_lib)
    assert {c["text_source"] for c in all_lib} == {"bext", "info", "id3", "filename"}
    assert max(c["channels"] for c in all_lib) >= 4
    ucs = [c for c in doc["corpora"]["sonniss"]["clips"] if re.fullmatch(r"[A-Z]+[A-Za-z]*_[^_]+_[A-Z]+_[A-Z]+\.\w+",
                                                                           Path(c["audio"]).name)]
    assert len(ucs) == len(doc["corpora"]["sonniss"]["clips"])
    assert any(re.match(r"[A-Z]+[A-Za-z]+-(L,R|M|L,R,Ls,Rs)_", Path(c["audio"]).name)
               for c in doc["corpora"]["free_to_use_sounds"]["clips"])
    for name in ("free_to_use_sounds", "odeon"):  # preview MP3 beside a WAV of the same stem
        previews = [p for p in doc["corpora"][name]["skipped_files"] if p.endswith(".mp3")]
        assert previews and all(any(Path(c["audio"]).with_suffix("") == Path(p).with_suffix("")
                                    for c in doc["corpora"][name]["clips"]) for p in previews)
    for c in all_lib:
        path = out / c["corpus"] / c["audio"]
        if c["text_source"] == "bext":
            chunks = dict(_riff_chunks(path.read_bytes()))
            assert chunks[b"bext"][:256].rstrip(b"\0").decode("latin-1") == c["text"]
        elif c["text_source"] == "info":
            assert c["text"].encode("latin-1") in dict(_riff_chunks(path.read_bytes()))[b"LIST"]
        elif c["text_source"] == "id3":
            head = path.read_bytes()[:200]
            assert head.startswith(b"ID3") and c["text"].encode("latin-1") in head
        assert all(k in c["text"].lower() or k in c["audio"].lower() for k in c["keywords"])


def test_audio_decodes_with_varied_formats(demo):
    out, doc = demo
    seen = defaultdict(set)
    for c in _all_clips(doc):
        path = out / c["corpus"] / c["audio"]
        if c["broken"]:
            with pytest.raises(Exception):
                sf.read(path)
            continue
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (c["sample_rate"], c["channels"]), path
        assert info.format == c["format"] and info.subtype == c["subtype"], path
        if c["format"] != "MP3":  # MP3 frames pad the end
            assert abs(info.frames / info.samplerate - c["file_seconds"]) < 0.01, path
        x, _ = sf.read(path)
        assert abs(x).max() > 0.05, path  # not silence
        for key in ("sample_rate", "channels", "subtype", "format"):
            seen[key].add(c[key])
        seen[c["corpus"] + ":sr"].add(c["sample_rate"])
    assert {16000, 32000, 44100, 48000, 96000} <= seen["sample_rate"]
    assert {1, 2, 4, 6} <= seen["channels"]
    assert {"PCM_16", "PCM_24", "FLOAT", "VORBIS", "MPEG_LAYER_III"} <= seen["subtype"]
    assert {"WAV", "FLAC", "OGG", "MP3"} <= seen["format"]
    assert seen["audioset:sr"] >= {32000, 48000} and seen["audiocaps:sr"] == {32000}
    assert seen["clotho:sr"] == {44100} and seen["fsd50k:sr"] == {44100}


def test_youtube_file_names_and_whole_video(demo):
    out, doc = demo
    clips = [c for n in ("audioset", "audiocaps", "vggsound") for c in doc["corpora"][n]["clips"]]
    assert all(YT_ID.match(c["youtube_id"]) for c in clips)
    assert any(c["youtube_id"].startswith("-") for c in clips) and any("_" in c["youtube_id"] for c in clips)
    names = [Path(c["audio"]).name for c in clips]
    assert any(re.fullmatch(r"Y.{11}\.wav", n) for n in names)
    assert any(re.fullmatch(r".{11}_\d{1,3}\.flac", n) for n in names)
    assert any(re.fullmatch(r".{11}_\d{6}\.(wav|flac)", n) for n in names)
    (whole,) = [c for c in clips if c.get("whole_video")]
    assert whole["file_seconds"] >= whole["youtube_start_s"] + whole["duration_s"]
    assert whole["offset_s"] == whole["youtube_start_s"] > 0
    assert all(1.0 <= c["file_seconds"] <= 15.0 for c in clips)


def test_expectations_are_consistent(demo):
    out, doc = demo
    assert json.loads((out / EXPECTATIONS).read_text()) == doc
    clips = _all_clips(doc)
    assert 150 <= len(clips) <= 260 and doc["totals"]["clips"] == len(clips)
    for name, corpus in doc["corpora"].items():
        counts, root = corpus["counts"], out / name
        assert counts["rows"] == len(corpus["clips"]) and counts["ok"] + counts["broken"] == counts["rows"]
        for c in corpus["clips"]:
            assert (root / c["audio"]).is_file() and c["split"] in ("train", "valid", "test")
        rejected = sum(counts.get(k, 0) for k in ("malformed_row", "missing_audio", "unsupported_container"))
        assert (counts["broken"] + counts.get("malformed_row", 0)) / (counts["rows"] + rejected) < 0.15, name
        for r in corpus["rejects"]:
            if r["reason"] == "missing_audio" and "youtube_id" in r:
                assert r["youtube_id"] in _line(root, r["source"])
                assert not [p for p in root.rglob(f"*{r['youtube_id']}*")]
        sources = [c["source"] for c in corpus["clips"]] + [r["source"] for r in corpus["rejects"]]
        assert len(sources) == len(set(sources))
    yt_groups = [d for d in doc["duplicates"] if d["kind"] == "youtube"]
    assert any({m["corpus"] for m in d["members"]} == {"audioset", "audiocaps", "vggsound"} for d in yt_groups)
    assert any({m["corpus"] for m in d["members"]} == {"clotho", "fsd50k"} for d in doc["duplicates"])
    (leak,) = doc["leakage"]
    assert {(m["corpus"], m["source"].split(":")[0]) for m in leak["train"]} == {
        ("audioset", "unbalanced_train_segments.csv"), ("vggsound", "vggsound.csv")}
    by_corpus = defaultdict(list)
    for s in doc["speech"]:
        by_corpus[s["corpus"]].append(s)
    assert {"audioset", "audiocaps", "fsd50k", "vggsound", "clotho"} <= set(by_corpus)
    assert any(s["kinds"] == ["conversation"] and s["speech_modes"] == ["strict"] for s in by_corpus["audioset"])
    assert any(s["split"] == "test" for s in by_corpus["audiocaps"])
    for c in clips:
        if c["speech"] and c["corpus"] in ("audiocaps", "clotho"):
            assert all(any(p in cap.lower() for p in SPEECH_PATTERNS) for cap in c["captions"]), c["captions"]
    assert any(c["labels"] == ["male speech, man speaking"] for c in doc["corpora"]["vggsound"]["clips"])
    assert {b["broken"] for b in doc["broken_audio"]} == {"garbage", "truncated"}
    # speech only the audio can reveal: spoken over non-speech scenes, in no label or caption
    spoken = [c for c in clips if c.get("spoken")]
    assert len({c["corpus"] for c in spoken}) >= 3 and [c["spoken"] for c in spoken] == [
        s["spoken"] for s in doc["spoken_speech"]]
    for c in spoken:
        assert not c["speech"] and not c["speech_modes"] and c["split"] == "train"
        texts = [c.get("caption") or "", *c.get("captions", []), *c.get("labels", []), c["audio"]]
        assert not any(p in t.lower() for t in texts for p in SPEECH_PATTERNS), texts
        assert 0 < c["spoken"]["start_s"] and c["spoken"]["start_s"] + c["spoken"]["seconds"] <= c["file_seconds"] + 0.01
        assert c["spoken"]["seconds"] / c["file_seconds"] > 0.3 and c["spoken"]["engine"] == doc["speech_engine"]


def test_same_seed_same_bytes_other_seed_differs(demo, tmp_path):
    out, doc = demo
    again = tmp_path / "again"
    proc = subprocess.run([sys.executable, "-m", "pipeline.demo", "--out", str(again), "--seed", "0"],
                          capture_output=True, text=True, check=True)
    summary = proc.stdout.strip().splitlines()
    assert len(summary) == 1 and "clips" in summary[0] and "MB" in summary[0]

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    first, second = digests(out), digests(again)
    assert first == second  # WAV, FLAC, OGG, MP3, metadata: all byte-identical
    other = tmp_path / "other"
    write_demo(other, seed=1)
    third = digests(other)
    assert third["audioset/ontology.json"] != first["audioset/ontology.json"] or \
        third["audioset/balanced_train_segments.csv"] != first["audioset/balanced_train_segments.csv"]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "audioset").mkdir()
    (tmp_path / "audioset" / "precious.csv").write_text("keep me")
    with pytest.raises(SystemExit, match="refusing"):
        write_demo(tmp_path, seed=0)
    assert (tmp_path / "audioset" / "precious.csv").read_text() == "keep me"


def test_ogg_serial_rewrite_keeps_a_valid_stream():
    import numpy as np

    from pipeline.demo.writer import encode

    audio = (0.1 * np.sin(np.arange(20000) / 10.0)).astype(np.float32)[:, None]
    a = encode(audio, 16000, "OGG", "VORBIS", serial=7)
    b = encode(audio, 16000, "OGG", "VORBIS", serial=7)
    assert a == b and a[14:18] == (7).to_bytes(4, "little")
    x, sr = sf.read(io.BytesIO(a))
    assert sr == 16000 and len(x) == 20000


def test_only_the_audio_filter_finds_the_spoken_plants_and_other_sounds_are_kept(demo):
    """Every decodable demo clip through the project's decoder and the speech detector: the spoken
    plants are speech, and no clip made of non-speech sounds alone is (prepare's default 20 %)."""
    from audiogen.io import audio
    from audiogen.speech.vad import VoiceActivityDetector
    from pipeline.demo.catalog import KINDS
    from pipeline.preparing.plan import PrepareConfig

    out, doc = demo
    clips = [c for c in _all_clips(doc) if not c["broken"]]
    pcm = []
    for c in clips:
        data, sr = audio.decode(str(out / c["corpus"] / c["audio"]))
        pcm.append(audio.resample(audio.to_mono(data), sr, 16000))
    found = dict(zip((c["source"] for c in clips), VoiceActivityDetector().detect(pcm)))
    limit = PrepareConfig().max_speech_fraction
    for c in clips:
        result = found[c["source"]]
        if c.get("spoken"):
            assert result.fraction > limit and result.speech_s > 0.6 * c["spoken"]["seconds"], (c["audio"], result)
        elif not any(KINDS[k].speech for k in c["kinds"]):
            assert result.fraction <= limit, (c["corpus"], c["audio"], c["kinds"], result)
    plain = [found[c["source"]] for c in clips if not c.get("spoken") and not any(KINDS[k].speech for k in c["kinds"])]
    assert len(plain) > 100 and sum(r.speech_s > 0 for r in plain) <= 3


def test_spoken_plants_fall_back_to_the_formant_voice_without_espeak(tmp_path, monkeypatch):
    from pipeline.demo import voice as demo_voice
    from pipeline.demo.libraries import write_odeon
    from pipeline.demo.writer import CorpusWriter

    monkeypatch.setattr(demo_voice, "espeak_version", lambda: None)  # as on a machine without espeak-ng
    w = CorpusWriter(tmp_path / "odeon", "odeon", 0)
    write_odeon(w)
    (plant,) = [c for c in w.clips if c["spoken"]]
    assert plant["spoken"]["engine"].startswith("formant voice") and plant["spoken"]["seconds"] > 3
    from audiogen.io import audio
    from audiogen.speech.vad import VoiceActivityDetector

    x, sr = audio.decode(str(tmp_path / "odeon" / plant["audio"]))
    assert sr == 48000 and abs(x).max() < 0.71
    (found,) = VoiceActivityDetector().detect([audio.resample(audio.to_mono(x), sr, 16000)])
    assert found.fraction > 0.2  # the fallback voice is speech to the detector too
