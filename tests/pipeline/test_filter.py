"""The filter stage end to end on manifests written here: leakage, hold-out, duplicate merge,
speech on merged rows, the untouched test split, stats and determinism."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pipeline.common
from pipeline import filter as filt
from pipeline.corpora.base import make_key
from pipeline.manifest import ManifestRow, read_manifest, write_manifest


def row(corpus: str, sid: str, split: str = "train", **kw: Any) -> dict[str, Any]:
    kw.setdefault("audio_path", f"/data/{corpus}/{sid}.wav")
    kw.setdefault("duration_s", 10.0)
    kw.setdefault("captions", [kw.get("caption", f"{sid} sound")])
    kw.setdefault("caption", kw["captions"][0])
    return ManifestRow(key=make_key(corpus, sid), corpus=corpus, split=split, source=f"{corpus}.csv:{sid}",
                       **kw).to_dict()


def tags(labels: list[str], ids: list[str]) -> dict[str, Any]:
    caption = ", ".join(labels)
    return {"labels": labels, "label_ids": ids, "captions": [caption], "caption": caption}


@pytest.fixture()
def params(tmp_path, monkeypatch):
    def write(text: str = "") -> Path:
        path = tmp_path / "params.yaml"
        path.write_text(text)
        monkeypatch.setattr(pipeline.common, "PARAMS_FILE", path)
        return path

    write()
    return write


def run(tmp_path: Path, corpora: dict[str, list[dict[str, Any]]], out: str = "filtered"):
    manifests = tmp_path / "manifests"
    for corpus, rows in corpora.items():
        write_manifest(rows, manifests / corpus / "manifest.parquet")
    out_dir = manifests / out  # inside --manifests, as in dvc.yaml: must not be read back as a corpus
    stats = filt.main(["--manifests", str(manifests), "--out", str(out_dir)])
    split_rows = {s: {r["key"]: r for r in read_manifest(out_dir / f"{s}.parquet")} for s in ("train", "valid", "test")}
    rejects = {}
    for line in (out_dir / "rejects.jsonl").read_text().splitlines():
        r = json.loads(line)
        rejects[r["key"]] = r
    return split_rows, rejects, stats, out_dir


CLOTHO_EVAL = "/data/clotho/evaluation/rain on a roof.wav"


def corpora_fixture() -> dict[str, list[dict[str, Any]]]:
    return {
        "audiocaps": [
            row("audiocaps", "t1", "test", youtube_id="TESTVIDEO01", youtube_start_s=30.0,
                captions=["A man talks while a dog barks", "someone speaks"]),
            row("audiocaps", "a1", youtube_id="DUPVIDEO_01", youtube_start_s=30.0, captions=["A dog barks loudly"]),
            row("audiocaps", "v1", "valid", youtube_id="VALVIDEO_01", youtube_start_s=0.0, captions=["Rain falls"]),
        ],
        "audioset": [
            # same video as the AudioCaps test clip, another window: still a leak
            row("audioset", "s1", youtube_id="TESTVIDEO01", youtube_start_s=100.0, **tags(["Engine"], ["/m/02mk9"])),
            row("audioset", "s2", youtube_id="DUPVIDEO_01", youtube_start_s=30.0,
                **tags(["Dog", "Bark"], ["/m/0bt9lr", "/m/05tny_"])),
            row("audioset", "s3", youtube_id="OTHERVID_01", youtube_start_s=10.0, **tags(["Conversation"], ["/m/01h8n0"])),
            row("audioset", "e1", "test", youtube_id="EVALVIDEO01", youtube_start_s=0.0, **tags(["Bird"], ["/m/015p6"])),
        ],
        "vggsound": [
            row("vggsound", "g1", youtube_id="DUPVIDEO_01", youtube_start_s=30.4, **tags(["dog barking"], ["dog barking"])),
            row("vggsound", "g2", youtube_id="TESTVIDEO01", youtube_start_s=30.0, **tags(["dog barking"], ["dog barking"])),
            row("vggsound", "g3", youtube_id="PARROTVID01", youtube_start_s=0.0, **tags(["parrot talking"], ["parrot talking"])),
        ],
        "clotho": [
            row("clotho", "e1", "test", freesound_id="777", audio_path=CLOTHO_EVAL, captions=["Rain on a roof"]),
            row("clotho", "d1", freesound_id="555", captions=["Water drips", "Water drips", "Drops of water fall"]),
        ],
        "fsd50k": [
            row("fsd50k", "777", freesound_id="777", **tags(["Rain"], ["/m/06mb1"])),
            row("fsd50k", "555", freesound_id="555", **tags(["Drip"], ["/m/07pqc89"])),
            row("fsd50k", "901", **tags(["Male speech and man speaking"], ["/m/05zppz"])),
        ],
        "sonniss": [
            # the very Clotho evaluation file, spelt another way
            row("sonniss", "copy", audio_path="/data/clotho/evaluation/../evaluation/rain on a roof.wav"),
            row("sonniss", "walla", captions=["Crowd talking in a restaurant"]),
            row("sonniss", "spk", captions=["Music from a loudspeaker, bicycle spokes, birds chattering"]),
        ],
    }


def test_filter_rules(params, tmp_path, capsys):
    out, rejects, stats, out_dir = run(tmp_path, corpora_fixture())
    k = make_key
    reason = {key: r["reason"] for key, r in rejects.items()}

    # leakage: by YouTube id (any window of the video), by Freesound id, by the very file
    assert reason[k("audioset", "s1")] == "leak_audiocaps_test"
    assert reason[k("vggsound", "g2")] == "leak_audiocaps_test"
    assert reason[k("fsd50k", "777")] == "leak_clotho_eval"
    assert reason[k("sonniss", "copy")] == "leak_clotho_eval"
    # held out: test rows of corpora other than audiocaps
    assert reason[k("audioset", "e1")] == "held_out_test"
    assert reason[k("clotho", "e1")] == "held_out_test"
    assert set(out["test"]) == {k("audiocaps", "t1")}

    # duplicates: one row per YouTube window (start rounded to the second) and per Freesound id
    merged = out["train"][k("audiocaps", "a1")]
    assert merged["captions"] == ["A dog barks loudly", "Dog, Bark", "dog barking"]
    assert merged["caption"] == "A dog barks loudly"
    assert merged["labels"] == ["Dog", "Bark", "dog barking"]
    assert merged["label_ids"] == ["/m/0bt9lr", "/m/05tny_", "dog barking"]
    assert merged["corpora"] == ["audiocaps", "audioset", "vggsound"]
    assert merged["sources"] == ["audiocaps:audiocaps.csv:a1", "audioset:audioset.csv:s2", "vggsound:vggsound.csv:g1"]
    for loser in (k("audioset", "s2"), k("vggsound", "g1")):
        assert rejects[loser]["reason"] == "duplicate" and rejects[loser]["winner"] == k("audiocaps", "a1")
    fs = out["train"][k("clotho", "d1")]
    assert fs["captions"] == ["Water drips", "Drops of water fall", "Drip"]  # repeats removed, order kept
    assert fs["corpora"] == ["clotho", "fsd50k"]
    assert rejects[k("fsd50k", "555")]["winner"] == k("clotho", "d1")
    # an unmerged row records its single origin
    assert out["valid"][k("audiocaps", "v1")]["corpora"] == ["audiocaps"]

    # speech (strict): Conversation-only label, FSD50K mid, caption pattern; not the look-alikes
    assert rejects[k("audioset", "s3")]["detail"] == "label:/m/01h8n0 Conversation"
    assert rejects[k("fsd50k", "901")]["detail"].startswith("label:/m/05zppz")
    assert rejects[k("sonniss", "walla")]["detail"] == "caption:talking"
    assert k("sonniss", "spk") in out["train"] and k("vggsound", "g3") in out["train"]
    # the test split is never speech-filtered (only annotated)
    test = out["test"][k("audiocaps", "t1")]
    assert test["is_speech"] is True and test["speech_reason"] == "caption:talks"
    assert all(r["is_speech"] is False for s in ("train", "valid") for r in out[s].values())

    assert stats["drops"]["audioset"] == {"duplicate": 1, "held_out_test": 1, "leak_audiocaps_test": 1, "speech": 1}
    assert stats["before"]["audioset"]["train"]["rows"] == 3
    assert stats["after"]["audiocaps"]["train"] == {"rows": 1, "hours": round(10 / 3600, 6)}
    assert stats["rows_out"] == {"train": len(out["train"]), "valid": 1, "test": 1}
    assert json.loads((out_dir / "stats.json").read_text()) == stats
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        f"filter: {len(out['train'])} train / 1 valid / 1 test rows")

    # deterministic: a second run gives the same bytes
    _, _, _, out_dir2 = run(tmp_path, corpora_fixture(), out="filtered2")
    for name in ("train.parquet", "valid.parquet", "test.parquet", "rejects.jsonl", "stats.json"):
        assert (out_dir / name).read_bytes() == (out_dir2 / name).read_bytes(), name


def test_params_priority_modes_and_merged_speech(params, tmp_path):
    corpora = {
        "audiocaps": [row("audiocaps", "a1", youtube_id="DUPVIDEO_01", youtube_start_s=30.0,
                          captions=["A dog barks"])],
        "audioset": [row("audioset", "s2", youtube_id="DUPVIDEO_01", youtube_start_s=29.6,
                         **tags(["Dog", "Conversation"], ["/m/0bt9lr", "/m/01h8n0"]))],
        "vggsound": [row("vggsound", "g3", youtube_id="PARROTVID01", youtube_start_s=0.0,
                         **tags(["parrot talking"], ["parrot talking"]))],
        "clotho": [row("clotho", "e1", "test", freesound_id="1", captions=["Birds sing"])],
    }
    # strict: the merged row is judged on its members' union (Conversation came from AudioSet)
    _, rejects, _, _ = run(tmp_path, corpora)
    assert rejects[make_key("audiocaps", "a1")]["reason"] == "speech"
    assert rejects[make_key("audiocaps", "a1")]["detail"] == "label:/m/01h8n0 Conversation"

    # paper mode keeps Conversation; the priority and the test corpora come from params
    params("filter:\n  speech_mode: paper\n  dedupe_priority: [audioset, audiocaps]\n"
           "  test_corpora: [audiocaps, clotho]\n  speech_voice_like: true\n")
    out, rejects, stats, _ = run(tmp_path, corpora, out="paper")
    winner = out["train"][make_key("audioset", "s2")]
    assert winner["corpora"] == ["audioset", "audiocaps"] and winner["is_speech"] is False
    assert rejects[make_key("audiocaps", "a1")]["winner"] == make_key("audioset", "s2")
    assert make_key("clotho", "e1") in out["test"]
    assert make_key("vggsound", "g3") in out["train"]  # voice-like classes are a strict-mode switch
    assert (stats["speech_mode"], stats["speech_rules"]) == ("labels", "paper")  # the old spelling still works

    # strict + voice-like switch drops the parrot
    params("filter:\n  speech_voice_like: true\n")
    _, rejects, _, _ = run(tmp_path, corpora, out="voice")
    assert rejects[make_key("vggsound", "g3")]["detail"] == "label:parrot talking"

    params("filter:\n  speech_mode: loud\n")
    with pytest.raises(SystemExit, match="speech_mode"):
        run(tmp_path, corpora, out="bad")
    params("filter:\n  speech_mod: paper\n")
    with pytest.raises(SystemExit, match="unknown keys"):
        run(tmp_path, corpora, out="bad")


def test_no_manifests(params, tmp_path):
    with pytest.raises(SystemExit, match="no <corpus>/manifest.parquet"):
        filt.main(["--manifests", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])


def test_repo_params_section_is_valid():
    """The project's params.yaml `filter` section (when present) maps onto FilterConfig."""
    from pipeline.common import load_params

    section = load_params("filter", Path(__file__).resolve().parents[2] / "params.yaml")
    config = filt.FilterConfig.from_params(section)
    assert config.speech_mode in filt.DECISION_MODES and config.speech_rules in ("strict", "paper")
    assert config.test_corpora


@pytest.mark.parametrize("mode, dropped_here, by_audio", [
    ("labels", {"talk"}, set()),
    ("either", {"talk"}, {"rain"}),
    ("audio", set(), {"talk", "rain"}),
    ("confirm", set(), {"talk"}),
    ("off", set(), set()),
])
def test_speech_modes_split_the_decision_with_prepare(params, tmp_path, mode, dropped_here, by_audio):
    """Who decides: the filter drops label hits itself only in labels/either; `speech_by_audio` tells
    prepare which rows its audio verdict may drop; test rows are never dropped nor left to the audio."""
    corpora = {"sonniss": [row("sonniss", "talk", captions=["A man talks on the phone"]),
                           row("sonniss", "rain", captions=["Rain on a tin roof"]),
                           row("sonniss", "t", "test", captions=["Someone speaks"])]}
    params(f"filter:\n  speech_mode: {mode}\n  test_corpora: [sonniss]\n")
    out, rejects, stats, _ = run(tmp_path, corpora, out=mode)
    key = {name: make_key("sonniss", name) for name in ("talk", "rain", "t")}
    assert {n for n in ("talk", "rain") if key[n] in rejects} == dropped_here
    assert all(rejects[key[n]]["reason"] == "speech" and rejects[key[n]]["duration_s"] == 10.0 for n in dropped_here)
    kept = {n: out["train"][key[n]] for n in ("talk", "rain") if key[n] in out["train"]}
    assert {n for n, r in kept.items() if r["speech_by_audio"]} == by_audio
    assert (kept.get("talk") or {"is_speech": mode != "off"})["is_speech"] is (mode != "off")
    test = out["test"][key["t"]]
    assert test["speech_by_audio"] is False and test["is_speech"] is (mode != "off")
    speech = stats["speech"]
    assert speech["mode"] == mode == stats["speech_mode"]
    assert sum(v["rows"] for v in speech["left_to_audio"].get("sonniss", {}).values()) == len(by_audio)
    assert sum(v["rows"] for v in speech["dropped"].get("sonniss", {}).values()) == len(dropped_here)
    assert speech["label_hits"].get("sonniss", {}).get("test", {}).get("rows", 0) == (mode != "off")
