"""What the demo sounds are called: captions, AudioSet classes, VGGSound and FSD50K labels.

Each `Kind` ties one synthesiser of `pipeline.demo.sounds` to the words that describe it, so every
demo clip's caption, tags and file name describe what it actually sounds like. The AudioSet ids and
display names are the real ones (class_labels_indices.csv, with the real indices); the ontology
fragment keeps the real hierarchy for the classes used, including the whole Speech subtree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.demo.sounds import Layer


@dataclass(frozen=True)
class Kind:
    name: str                 # also the synthesiser name in demo_sounds.SYNTHS
    clauses: tuple[str, ...]  # present-tense clauses: "a dog barks"
    nouns: tuple[str, ...]    # noun phrases: "a barking dog"
    mids: tuple[str, ...]     # AudioSet labels as a segment would carry them (not propagated)
    vggsound: str | None      # VGGSound class, None when no class fits
    speech: bool = False


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("siren", ("a siren wails, rising and falling", "an emergency siren rises and falls", "a siren wails"),
         ("a wailing siren", "a siren"), ("/m/03kmc9",), "police car (siren)"),
    Kind("rain", ("rain falls steadily", "heavy rain pours down", "rain patters on a surface"),
         ("steady rain", "falling rain"), ("/m/06mb1", "/t/dd00038"), "raining"),
    Kind("wind", ("wind blows in gusts", "a strong wind howls", "wind gusts past"),
         ("gusting wind", "howling wind"), ("/m/03m9d0z",), "wind noise"),
    Kind("stream", ("water trickles and bubbles in a stream", "a stream babbles", "water flows in a brook"),
         ("a babbling stream", "running water"), ("/m/0j6m2", "/m/0838f"), "stream burbling"),
    Kind("thunder", ("thunder rumbles", "thunder cracks and rumbles in the distance", "a deep thunder rumble rolls"),
         ("rumbling thunder", "a thunderclap"), ("/m/0ngt1", "/m/0jb2l"), "thunder"),
    Kind("engine_idle", ("an engine idles with a low hum", "a motor hums at idle", "a vehicle engine idles"),
         ("a low engine hum", "an idling engine"), ("/m/07pb8fc", "/m/02mk9"), None),
    Kind("engine_rev", ("an engine revs up and slows down", "a motor accelerates and then idles"),
         ("a revving engine",), ("/m/07q2z82", "/m/02mk9"), "engine accelerating, revving, vroom"),
    Kind("clock", ("a clock ticks", "a clock ticks steadily", "a clock goes tick-tock"),
         ("a ticking clock", "clock ticks"), ("/m/07qjznl", "/m/01x3z"), None),
    Kind("birds", ("birds chirp", "small birds chirp and tweet", "a bird sings short chirps"),
         ("chirping birds", "bird song"), ("/m/07pggtn", "/m/020bb7", "/m/015p6"), "bird chirping, tweeting"),
    Kind("dog", ("a dog barks", "a dog barks several times", "a dog barks repeatedly"),
         ("a barking dog", "dog barks"), ("/m/05tny_", "/m/0bt9lr"), "dog barking"),
    Kind("bell", ("a bell rings", "a church bell tolls", "a large bell rings slowly"),
         ("a tolling bell", "church bells"), ("/m/03w41f", "/m/0395lw"), "church bell ringing"),
    Kind("chime", ("wind chimes tinkle", "metal chimes ring softly", "chimes jingle in the breeze"),
         ("tinkling wind chimes", "chimes"), ("/m/026fgl", "/m/0f8s22"), "wind chime"),
    Kind("footsteps", ("footsteps walk across a floor", "someone walks with heavy footsteps", "a person walks slowly"),
         ("footsteps", "heavy footsteps"), ("/m/07pbtc8",), None),
    Kind("knock", ("someone knocks on a door", "knocks on a wooden door", "a person knocks three times on a door"),
         ("knocking on a door", "a door knock"), ("/m/07r4wb8", "/m/02dgv"), None),
    Kind("applause", ("a crowd applauds", "people clap and applaud", "an audience claps"),
         ("applause", "clapping"), ("/m/028ght", "/m/0l15bq"), "people clapping"),
    Kind("beeps", ("an electronic device beeps", "a machine beeps repeatedly", "a series of beeps sounds"),
         ("electronic beeps", "beeping"), ("/m/02fs_r",), None),
    # Speech captions always hold one of the strict filter's patterns (speaks, talking, speech,
    # narrat, conversation), as in AudioCaps.
    Kind("speech_male", ("a man speaks", "a man is talking", "a man speaks calmly"),
         ("a man talking", "male speech"), ("/m/09x0r", "/m/05zppz"), "male speech, man speaking", True),
    Kind("speech_female", ("a woman speaks", "a woman is talking", "a woman speaks softly"),
         ("a woman talking", "female speech"), ("/m/09x0r", "/m/02zsn"), "female speech, woman speaking", True),
    Kind("speech_child", ("a child speaks", "a young child is talking"),
         ("a child talking",), ("/m/0ytgt",), "child speech, kid speaking", True),
    Kind("narration", ("a man narrates in a calm voice", "a narrator speaks steadily"),
         ("a calm narration",), ("/m/02qldy",), None, True),
    Kind("conversation", ("a man and a woman have a conversation", "two people are talking to each other"),
         ("a conversation",), ("/m/01h8n0",), None, True),
    Kind("babble", ("a crowd of people is talking", "many people are talking indistinctly"),
         ("people talking in a crowd",), ("/m/07qfr4h",), None, True),
)}
NON_SPEECH = tuple(k for k, v in KINDS.items() if not v.speech)

# --- AudioSet: (index in class_labels_indices.csv, mid, display name) — the real values.
CLASSES: dict[str, tuple[int, str]] = {
    "/m/09x0r": (0, "Speech"), "/m/05zppz": (1, "Male speech, man speaking"),
    "/m/02zsn": (2, "Female speech, woman speaking"), "/m/0ytgt": (3, "Child speech, kid speaking"),
    "/m/01h8n0": (4, "Conversation"), "/m/02qldy": (5, "Narration, monologue"), "/m/0261r1": (6, "Babbling"),
    "/m/0brhx": (7, "Speech synthesizer"), "/m/07pbtc8": (53, "Walk, footsteps"), "/m/0k65p": (61, "Hands"),
    "/m/0l15bq": (63, "Clapping"), "/m/028ght": (67, "Applause"),
    "/m/07qfr4h": (70, "Hubbub, speech noise, speech babble"), "/m/0jbk": (72, "Animal"),
    "/m/068hy": (73, "Domestic animals, pets"), "/m/0bt9lr": (74, "Dog"), "/m/05tny_": (75, "Bark"),
    "/m/01280g": (108, "Wild animals"), "/m/015p6": (111, "Bird"),
    "/m/020bb7": (112, "Bird vocalization, bird call, bird song"), "/m/07pggtn": (113, "Chirp, tweet"),
    "/m/04rlf": (137, "Music"), "/m/04szw": (138, "Musical instrument"), "/m/0395lw": (200, "Bell"),
    "/m/03w41f": (201, "Church bell"), "/m/0f8s22": (205, "Chime"), "/m/026fgl": (206, "Wind chime"),
    "/m/03m9d0z": (283, "Wind"), "/m/0jb2l": (286, "Thunderstorm"), "/m/0ngt1": (287, "Thunder"),
    "/m/0838f": (288, "Water"), "/m/06mb1": (289, "Rain"), "/t/dd00038": (291, "Rain on surface"),
    "/m/0j6m2": (292, "Stream"), "/m/02mk9": (343, "Engine"), "/m/07pb8fc": (352, "Idling"),
    "/m/07q2z82": (353, "Accelerating, revving, vroom"), "/m/02dgv": (354, "Door"), "/m/07r4wb8": (359, "Knock"),
    "/m/07pp_mv": (388, "Alarm"), "/m/03kmc9": (396, "Siren"), "/t/dd00077": (404, "Mechanisms"),
    "/m/01x3z": (406, "Clock"), "/m/07qjznl": (408, "Tick-tock"), "/m/02fs_r": (481, "Beep, bleep"),
}
# Abstract parents that are not among the 527 trainable classes (restrictions: ["abstract"]).
ABSTRACT: dict[str, str] = {
    "/m/0dgw9r": "Human sounds", "/m/09l8g": "Human voice", "/m/0bpl036": "Human locomotion",
    "/t/dd00012": "Human group actions", "/m/059j3w": "Natural sounds", "/t/dd00041": "Sounds of things",
    "/t/dd00071": "Domestic sounds, home sounds", "/t/dd00098": "Source-ambiguous sounds",
}
# child_ids of the ontology fragment (the real structure for these classes; Beep is placed directly
# under Source-ambiguous sounds, skipping its real intermediate class).
CHILDREN: dict[str, tuple[str, ...]] = {
    "/m/0dgw9r": ("/m/09l8g", "/m/0bpl036", "/m/0k65p", "/t/dd00012"),
    "/m/09l8g": ("/m/09x0r",),
    "/m/09x0r": ("/m/05zppz", "/m/02zsn", "/m/0ytgt", "/m/01h8n0", "/m/02qldy", "/m/0261r1", "/m/0brhx"),
    "/m/0bpl036": ("/m/07pbtc8",), "/m/0k65p": ("/m/0l15bq",), "/t/dd00012": ("/m/028ght", "/m/07qfr4h"),
    "/m/0jbk": ("/m/068hy", "/m/01280g"), "/m/068hy": ("/m/0bt9lr",), "/m/0bt9lr": ("/m/05tny_",),
    "/m/01280g": ("/m/015p6",), "/m/015p6": ("/m/020bb7",), "/m/020bb7": ("/m/07pggtn",),
    "/m/04rlf": ("/m/04szw",), "/m/04szw": ("/m/0395lw",), "/m/0395lw": ("/m/03w41f", "/m/0f8s22", "/m/026fgl"),
    "/m/059j3w": ("/m/03m9d0z", "/m/0jb2l", "/m/0838f"), "/m/0jb2l": ("/m/0ngt1",),
    "/m/0838f": ("/m/06mb1", "/m/0j6m2"), "/m/06mb1": ("/t/dd00038",),
    "/t/dd00041": ("/m/02mk9", "/t/dd00071", "/m/07pp_mv", "/t/dd00077"),
    "/m/02mk9": ("/m/07pb8fc", "/m/07q2z82"), "/t/dd00071": ("/m/02dgv",), "/m/02dgv": ("/m/07r4wb8",),
    "/m/07pp_mv": ("/m/03kmc9",), "/t/dd00077": ("/m/01x3z",), "/m/01x3z": ("/m/07qjznl",),
    "/t/dd00098": ("/m/02fs_r",),
}
ROOTS = ("/m/0dgw9r", "/m/0jbk", "/m/04rlf", "/m/059j3w", "/t/dd00041", "/t/dd00098")
SPEECH_ROOT = "/m/09x0r"


def class_name(mid: str) -> str:
    return CLASSES[mid][1] if mid in CLASSES else ABSTRACT[mid]


def parents() -> dict[str, str]:
    return {c: p for p, cs in CHILDREN.items() for c in cs}


def ancestors(mid: str) -> list[str]:
    """`mid` and its ancestors up to the root, leaf first (FSD50K's propagated label order)."""
    up = parents()
    chain = [mid]
    while chain[-1] in up:
        chain.append(up[chain[-1]])
    return chain


def speech_subtree() -> set[str]:
    out, todo = set(), [SPEECH_ROOT]
    while todo:
        m = todo.pop()
        out.add(m)
        todo.extend(CHILDREN.get(m, ()))
    return out


def fsd_label(mid: str) -> str:
    """FSD50K spells AudioSet names with underscores and 'and': 'Male_speech_and_man_speaking'."""
    return class_name(mid).replace(", ", "_and_").replace(" ", "_")


def _description(mid: str, name: str) -> str:
    text = f"Demo text for the AudioSet class '{name}' (real id and display name; description written for the demo)."
    if mid in ABSTRACT:
        text += " Abstract parent: its id is not among the 527 trainable classes and was not checked against them."
    if mid == "/m/02fs_r":
        text += " Demo hierarchy: placed directly under Source-ambiguous sounds, skipping its real parent."
    return text


def ontology(examples: dict[str, list[str]]) -> list[dict]:
    """The ontology.json fragment: every class used plus its ancestors, in the real field layout.
    `examples` maps mids to demo YouTube ids (filled into positive_examples like the real file)."""
    mids = sorted(set(CLASSES) | set(ABSTRACT), key=lambda m: (CLASSES.get(m, (-1,))[0], m))
    out = []
    for mid in mids:
        name = class_name(mid)
        out.append({
            "id": mid,
            "name": name,
            "description": _description(mid, name),
            "citation_uri": "",
            "positive_examples": [f"youtu.be/{y}?start=30&end=40" for y in examples.get(mid, [])[:3]],
            "child_ids": list(CHILDREN.get(mid, ())),
            "restrictions": ["abstract"] if mid in ABSTRACT else [],
        })
    return out


# --------------------------------------------------------------------------------------------
# scenes and captions
@dataclass(frozen=True)
class Scene:
    """What a clip contains: one or two kinds, mixed ('with') or one after the other ('then')."""

    kinds: tuple[str, ...]
    how: str = "single"  # single | with | then

    def layers(self) -> tuple[Layer, ...]:
        if self.how == "single":
            return (Layer(self.kinds[0]),)
        if self.how == "with":
            return (Layer(self.kinds[0]), Layer(self.kinds[1], gain_db=-8.0))
        return (Layer(self.kinds[0], end=0.55), Layer(self.kinds[1], start=0.45))

    @property
    def speech(self) -> bool:
        return any(KINDS[k].speech for k in self.kinds)

    def mids(self) -> list[str]:
        out: list[str] = []
        for k in self.kinds:
            out += [m for m in KINDS[k].mids if m not in out]
        return out


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """One human-style caption of the scene (AudioCaps/Clotho flavour); commas appear naturally."""
    a = KINDS[scene.kinds[0]]
    clause = str(rng.choice(a.clauses))
    if scene.how == "single":
        tail = str(rng.choice(["", "", " nearby", " in the distance", " outdoors"]))
        return _cap(clause + tail)
    b = KINDS[scene.kinds[1]]
    if scene.how == "with":
        form = int(rng.integers(0, 3))
        if form == 0:
            return _cap(f"{clause} while {rng.choice(b.clauses)}")
        if form == 1:
            return _cap(f"{clause}, with {rng.choice(b.nouns)} in the background")
        return _cap(f"{rng.choice(b.nouns)} in the background as {clause}")
    form = int(rng.integers(0, 2))
    if form == 0:
        return _cap(f"{clause}, then {rng.choice(b.clauses)}")
    return _cap(f"{clause}, followed by {rng.choice(b.nouns)}")


def captions(scene: Scene, rng: np.random.Generator, k: int) -> list[str]:
    """`k` distinct captions where possible (val/test have five per clip)."""
    out: list[str] = []
    for _ in range(8 * k):
        c = caption(scene, rng)
        if c not in out:
            out.append(c)
        if len(out) == k:
            break
    while len(out) < k:
        out.append(caption(scene, rng))
    return out


def random_scene(rng: np.random.Generator, pool: tuple[str, ...] = NON_SPEECH, p_two: float = 0.35) -> Scene:
    first = str(rng.choice(pool))
    if rng.random() >= p_two:
        return Scene((first,))
    second = str(rng.choice([k for k in NON_SPEECH if k != first]))
    return Scene((first, second), str(rng.choice(["with", "then"])))
