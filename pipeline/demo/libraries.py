"""Demo layouts of BBC Sound Effects and the four sound libraries (CORPORA.md).

BBC: `BBCSoundEffects.csv` with every field quoted, descriptions ending in provenance notes, audio
both flat (`07070130.wav`) and in the downloader's `sounds/<CDName>/<description>.<location>`.
Libraries: vendor folder trees, UCS and Free-To-Use-Sounds file names, `bext`/`INFO`/ID3 text on
some files, uppercase `.WAV`, FLAC/OGG/MP3, a preview MP3 beside a WAV, readme PDFs and artwork.
"""
from __future__ import annotations

import csv
import re

from pipeline.demo.catalog import Scene
from pipeline.demo.voice import SENTENCES, Spoken
from pipeline.demo.writer import CorpusWriter
from pipeline.demo.youtube import speech_fields

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"

# (kind, description, category, CDName) — BBC-style descriptions of what each synthesiser makes.
BBC_ROWS = (
    ("dog", "Dog barking in yard, several barks", "Animals", "Animals: Dogs"),
    ("rain", "Heavy rain on roof, steady", "Weather", "Weather: Rain"),
    ("thunder", "Thunder, distant rumble", "Weather", "Weather: Storms"),
    ("wind", "Wind, strong gusts in open country", "", "Weather: Wind"),
    ("siren", "Police siren, wailing, rising and falling", "Transport", "Emergency Vehicles"),
    ("engine_idle", "Two-stroke petrol engine idling, low hum", "Transport", "Engines: Petrol"),
    ("clock", "Clock ticking, close", "", "Clocks"),
    ("bell", "Church bell tolling, slow", "", "Bells"),
    ("footsteps", "Footsteps, man walking on wooden floor", "Footsteps", "Footsteps: Interiors"),
    ("knock", "Door, knock three times on wooden door", "", "Doors"),
    ("birds", "Birds, chirping in garden, morning", "Nature", "Birds: Garden"),
    ("stream", "Stream, small brook trickling over stones", "Nature", "Water: Rivers and Streams"),
    ("applause", "Audience applause, medium sized hall", "Crowds", "Crowds: Applause"),
    ("beeps", "Electronic beeps, repeated, telephone exchange", "", "Electronics"),
    ("babble", "Crowd chatter in a pub, conversation indistinct", "Crowds", "Crowds: Interiors"),
    ("chime", "Wind chimes, tinkling in light breeze", "", "Bells"),
)
PROVENANCE = ("", " - Sept '1967 (23F,reprocessed)", " (technical note - for use at low level)",
              " (Recorded 1978)", "", " - 1979 (12F)")


def _sanitise(text: str, limit: int = 60) -> str:
    return re.sub(r'[:/\\?*"<>|]', "", text).strip()[:limit].rstrip(" .")


def _words(text: str) -> list[str]:
    return [t.lower() for t in re.findall(r"[A-Za-z]+", text)]


def write_bbc(w: CorpusWriter) -> None:
    rng = w.rng("plan")
    rows: list[list] = []
    planned = []
    for i, (kind, desc, category, cdname) in enumerate(BBC_ROWS):
        location = f"{int(rng.integers(1000, 9999)):04d}{i:02d}{int(rng.integers(10, 99))}.wav"
        long = i in (1, 5)  # two long files, segmented later
        seconds = round(float(rng.uniform(19.5, 21.5) if long else rng.uniform(1.5, 4.0)), 3)
        tail = PROVENANCE[i % len(PROVENANCE)]
        cd = f"EC{int(rng.integers(1, 99))}{'ABCDEF'[i % 6]}"
        rows.append([location, f"{desc}.{tail}", str(int(round(seconds))), category, cd, cdname, str(i % 9 + 1)])
        planned.append((kind, desc, location, seconds, cdname))
    lines = w.csv("BBCSoundEffects.csv", rows, quoting=csv.QUOTE_ALL, lineterminator="\r\n",
                  header=["location", "description", "secs", "category", "CDNumber", "CDName", "tracknum"])
    for i, ((kind, desc, location, seconds, cdname), line) in enumerate(zip(planned, lines)):
        source = f"BBCSoundEffects.csv:{line}"
        if i == 13:
            w.reject("missing_audio", source, audio=location)
            continue
        if i % 2:
            rel = location  # flat layout
        else:
            rel = f"sounds/{_sanitise(cdname)}/{_sanitise(desc)}.{location}"
        scene = Scene((kind,))
        fields = w.audio(rel, scene, seconds, sr=48000 if i % 3 == 0 else 44100, channels=2,
                         subtype="PCM_24" if i % 4 == 2 else "PCM_16", broken="garbage" if i == 9 else None)
        caption = desc + "."
        w.clip(source=source, split="train", youtube_id=None, youtube_start_s=None, freesound_id=None,
               duration_s=None, offset_s=0.0, labels=[], label_ids=[], caption=caption, captions=[caption],
               description=rows[i][1], location=location, **fields, **speech_fields(scene, [caption]))


# ---------------------------------------------------------------------------------------------
# Sound libraries: each entry (relative path, kind, sr, channels, subtype, text source, text,
# keywords the caption should contain, tokens a good name parser drops).
FTUS = "Free To Use Sounds - {pack}/{folder}"
FREE_TO_USE = (
    ("Australia", "Rain", "RAINMetl-L,R,Ls,Rs_Australia-Rain, Metal Roof Shed, Wind Driven Rain, 13.WAV", "rain", 4),
    ("Australia", "Thunder", "WTHRThun-L,R_Australia-Thunder, Distant Rumble, Storm Front, 02.wav", "thunder", 2),
    ("Australia", "Birds", "BIRDSong-M_Australia-Birds, Morning Chirps, Garden, 07.wav", "birds", 1),
    ("Iceland", "Wind", "WINDGust-L,R,Ls,Rs_Iceland-Wind, Strong Gusts, Open Field, 04.WAV", "wind", 4),
    ("Iceland", "Water", "WATRStrm-L,R_Iceland-Stream, Small Creek, Bubbling, 11.wav", "stream", 2),
    ("Iceland", "Bells", "BELLChrch-L,R_Iceland-Church Bell, Tolling, Village, 05.flac", "bell", 2),
    ("Mexico", "Vehicles", "VEHCar-L,R_Mexico-Old Car, Engine Idle, Low Hum, 03.wav", "engine_idle", 2),
    ("Mexico", "Crowds", "CROWDConv-L,R_Mexico-Market Crowd, Conversation, Walla, 09.wav", "babble", 2),
    ("Mexico", "Animals", "ANMLDog-M_Mexico-Dog, Barking, Street, 01.wav", "dog", 1),
    ("Japan", "Mechanical", "MECHClck-M_Japan-Clock, Ticking, Antique Shop, 02.wav", "clock", 1),
    ("Japan", "Foley", "FOLYFeet-M_Japan-Footsteps, Wooden Floor, Slow Walk, 06.wav", "footsteps", 1),
    ("Japan", "Alarms", "ALRMSirn-L,R,C,LFE,Ls,Rs_Japan-Siren, Ambulance Passing, City, 08.WAV", "siren", 6),
)
SONNISS_ROOT = "Sonniss.com - GDC 2023 - Game Audio Bundle Part {part} of 3"
SONNISS = (
    (1, "SoundFormsFX - Urban Alarms", "ALRMSirn_Police Siren Wail Rising Falling_SFRMS_URBAN.wav", "siren",
     "Police siren wailing, rising and falling pitch, distant city"),
    (1, "SoundFormsFX - Urban Alarms", "UIBeep_Beep Short Electronic Repeating_SFRMS_URBAN.wav", "beeps", None),
    (1, "Zen Sound Studio - Storms", "WTHRThun_Thunder Rumble Distant_ZSS_STORM.WAV", "thunder",
     "Distant thunder rumbling after a lightning crack"),
    (1, "Zen Sound Studio - Storms", "RAINGen_Rain Heavy Steady_ZSS_STORM.flac", "rain", None),
    (2, "Bluezone Library - Animals", "ANMLDog_Dog Bark Aggressive Close_BLZN_ANIMALS.wav", "dog", None),
    (2, "Bluezone Library - Animals", "BIRDSong_Small Bird Chirps Morning_BLZN_ANIMALS.wav", "birds",
     "Small songbirds chirping in the morning"),
    (2, "Bluezone Library - Animals", "WATRStrm_Stream Babbling Brook_BLZN_NATURE.flac", "stream", None),
    (2, "Foley Folks - Home", "DOORWood_Door Knock Three Times_FLFK_HOME.wav", "knock", None),
    (2, "Foley Folks - Home", "FEETWood_Footsteps Wood Floor Walk Slow_FLFK_HOME.wav", "footsteps", None),
    (3, "Motor Heads - Engines", "VEHEngn_Engine Idle Low Rumble_MTRH_CARS.wav", "engine_idle", None),
    (3, "Motor Heads - Engines", "VEHEngn_Engine Rev Up And Down_MTRH_CARS.WAV", "engine_rev",
     "Car engine revving up and slowing down"),
    (3, "Crowd Works - Cafe", "CROWDConv_Cafe Conversation Walla_CRWK_CAFE.wav", "babble", None),
    (3, "Crowd Works - Cafe", "CROWDAppl_Applause Audience Medium_CRWK_CAFE.wav", "applause", None),
    (3, "Chime Time - Bells", "BELLChim_Wind Chimes Metal Gentle_CHTM_BELLS.flac", "chime", None),
)
WSE = (
    ("WeSoundEffects - Nature Pack", "Thunder Storm Distant 01.wav", "thunder",
     {"INAM": "Thunder Storm Distant", "ICMT": "Low rumbling thunder far away"}),
    ("WeSoundEffects - Nature Pack", "Rain Light Garden 02.ogg", "rain", None),
    ("WeSoundEffects - Nature Pack", "Wind Howling Trees 03.wav", "wind", {"INAM": "Wind Howling Trees"}),
    ("WeSoundEffects - Nature Pack", "Birds Chirping Forest 04.mp3", "birds", "Birds Chirping In A Forest"),
    ("WeSoundEffects - Nature Pack", "Stream Water Flow 05.wav", "stream", None),
    ("WeSoundEffects - City Pack", "Siren Ambulance Passing 01.wav", "siren", None),
    ("WeSoundEffects - City Pack", "Church Bells Ringing 02.ogg", "bell", None),
    ("WeSoundEffects - City Pack", "Clock Tower Ticking 03.wav", "clock", {"ICMT": "Old clock ticking steadily"}),
    ("WeSoundEffects - City Pack", "Dog Barking Backyard 04.wav", "dog", None),
    ("WeSoundEffects - Household Pack", "Door Knocking Wood 01.wav", "knock", None),
    ("WeSoundEffects - Household Pack", "Microwave Beeps 02.mp3", "beeps", "Microwave Beeping"),
    ("WeSoundEffects - Household Pack", "Footsteps Hallway 03.wav", "footsteps", None),
)
ODEON_ROOT = "Paramount Motion - Odeon Cinematic Sound Effects"
ODEON = (
    ("Ambiences", "Odeon - Wind Howling Canyon.wav", "wind", 6, "Wind howling through a canyon, 5.1 ambience"),
    ("Ambiences", "Odeon - Rain Storm Heavy.wav", "rain", 2, None),
    ("Ambiences", "Odeon - Forest Stream.wav", "stream", 2, None),
    ("Weather", "Odeon - Thunder Crack Rumble Long.wav", "thunder", 2, "Thunder crack followed by a long rumble"),
    ("Vehicles", "Odeon - Engine Revving Muscle Car.WAV", "engine_rev", 2, None),
    ("Vehicles", "Odeon - Engine Idle Truck.wav", "engine_idle", 2, None),
    ("Sirens", "Odeon - Siren Distant City Wail.wav", "siren", 2, None),
    ("Impacts", "Odeon - Door Knock Heavy Wood.wav", "knock", 1, None),
    ("Foley", "Odeon - Footsteps Gravel Walk.wav", "footsteps", 1, None),
    ("Crowds", "Odeon - Crowd Applause Theatre.wav", "applause", 2, None),
    ("Crowds", "Odeon - Crowd Murmur Conversation Hall.wav", "babble", 2, None),
    ("Bells", "Odeon - Clock Tower Bell.wav", "bell", 2, "Large clock tower bell tolling"),
)
_FMT = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}
_SUBTYPE = {"WAV": "PCM_24", "FLAC": "PCM_24", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}


def _library_clip(w: CorpusWriter, rel: str, kind: str, *, sr: int, channels: int, subtype: str | None = None,
                  bext: str | None = None, info: dict | None = None, title: str | None = None,
                  keywords: list[str], drop: list[str], broken: str | None = None, seconds: float | None = None,
                  spoken: Spoken | None = None) -> None:
    fmt = _FMT[rel[rel.rfind("."):].lower()]
    scene = Scene((kind,))
    secs = seconds or round(float(w.rng("len", rel).uniform(1.0, 3.0)), 3)
    fields = w.audio(rel, scene, secs, sr=sr, channels=channels, fmt=fmt, subtype=subtype or _SUBTYPE[fmt],
                     bext=bext, info=info, title=title, broken=broken, spoken=spoken)
    if bext:
        text_source, text = "bext", bext
    elif info:
        text_source, text = "info", info.get("INAM") or info.get("ICMT")
    elif title:
        text_source, text = "id3", title
    else:
        text_source, text = "filename", rel.rsplit("/", 1)[-1]
    w.clip(source=rel, split="train", youtube_id=None, youtube_start_s=None, freesound_id=None, duration_s=None,
           offset_s=0.0, labels=[], label_ids=[], text_source=text_source, text=text, keywords=keywords,
           drop_tokens=drop, **fields, **speech_fields(scene, [rel, text]))


def write_free_to_use(w: CorpusWriter) -> None:
    for i, (pack, folder, name, kind, channels) in enumerate(FREE_TO_USE):
        rel = f"{FTUS.format(pack=pack, folder=folder)}/{name}"
        code, rest = name.split("-", 1)
        layout, words = rest.split("_", 1)
        keywords = [k for k in _words(words.split("-", 1)[1])[:3]]
        _library_clip(w, rel, kind, sr=96000 if i == 3 else 48000, channels=channels,
                      subtype="FLOAT" if i == 0 else None, keywords=keywords,
                      drop=[code.lower(), layout.lower(), re.findall(r"\d+", name)[-1]],
                      bext="Strong wind gusts across an open field" if i == 3 else None)
        if i == 3:  # the vendor's preview MP3 beside the WAV (skipped by the adapter)
            w.audio(rel[:-4] + ".mp3", Scene((kind,)), 1.5, sr=44100, channels=2, fmt="MP3", subtype="MPEG_LAYER_III")
            w.skipped.append(rel[:-4] + ".mp3")
    for pack in ("Australia", "Iceland", "Mexico", "Japan"):
        w.blob(f"Free To Use Sounds - {pack}/readme.pdf", PDF)
    w.blob("Free To Use Sounds - Japan/cover.jpg", JPG)


def write_sonniss(w: CorpusWriter) -> None:
    for i, (part, lib, name, kind, bext) in enumerate(SONNISS):
        rel = f"{SONNISS_ROOT.format(part=part)}/{lib}/{name}"
        cat, fx, creator, _source_id = name.rsplit(".", 1)[0].split("_")
        _library_clip(w, rel, kind, sr=96000 if i % 5 == 0 else 48000, channels=(1, 2, 2, 4)[i % 4],
                      subtype="FLOAT" if i % 6 == 1 and name.endswith(".wav") else None, bext=bext,
                      keywords=_words(fx)[:3], drop=[cat.lower(), creator.lower()],
                      broken="truncated" if name.startswith("RAINGen") else None)
    w.blob(f"{SONNISS_ROOT.format(part=1)}/Sonniss GDC 2023 License.pdf", PDF)
    w.blob(f"{SONNISS_ROOT.format(part=2)}/Bluezone Library - Animals/readme.pdf", PDF)


def write_wesoundeffects(w: CorpusWriter) -> None:
    for i, (pack, name, kind, meta) in enumerate(WSE):
        rel = f"{pack}/{name}"
        title = meta if isinstance(meta, str) else None
        info = meta if isinstance(meta, dict) else None
        _library_clip(w, rel, kind, sr=44100 if i % 3 else 48000, channels=2 if i % 2 else 1,
                      subtype="PCM_16" if name.endswith(".wav") and i % 2 else None, info=info, title=title,
                      keywords=_words(name)[:2], drop=[re.findall(r"\d+", name)[-1]])
    w.blob("WeSoundEffects - Nature Pack/artwork.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32)


def write_odeon(w: CorpusWriter) -> None:
    for i, (folder, name, kind, channels, bext) in enumerate(ODEON):
        rel = f"{ODEON_ROOT}/{folder}/{name}"
        _library_clip(w, rel, kind, sr=48000, channels=channels, bext=bext,
                      keywords=_words(name.split(" - ", 1)[1])[:2], drop=["odeon"])
        if i == 1:
            w.audio(rel[:-4] + ".mp3", Scene((kind,)), 1.5, sr=44100, channels=2, fmt="MP3", subtype="MPEG_LAYER_III")
            w.skipped.append(rel[:-4] + ".mp3")
    # a dawn chorus with a guide talking over it; the file name says birds only (the audio filter's case)
    _library_clip(w, f"{ODEON_ROOT}/Ambiences/Odeon - Forest Birds Morning.wav", "birds", sr=48000, channels=2,
                  keywords=["forest", "birds"], drop=["odeon"], seconds=9.0, spoken=SENTENCES[2])
    w.blob(f"{ODEON_ROOT}/Odeon - readme.pdf", PDF)
