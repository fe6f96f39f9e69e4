"""How well the aiSFX judge recognises the demo's sounds → benchmarks/results/judge.json.

    python benchmarks/judge.py [--demo data/raw/demo] [--out benchmarks/results/judge.json]

(`python -m pipeline.demo --out DIR` builds the demo corpora when data/raw/demo is absent.)

The clips: every demo clip with exactly one synthesised kind, no speech and decodable audio, read
the way prepare reads it (its window, mono, 16 kHz with soxr, at most 10 s). Each clip is a query;
the gallery is the original clips, the query's own original left out; a hit is a nearest gallery
clip of the query's kind (cosine similarity of the judge's clip embeddings). Conditions:

- `original`: the clips themselves (leave-one-out);
- `lowpass_4khz`: each clip through an 8th-order Butterworth low-pass at 4 kHz (zero phase);
- `white_noise_10db`: each clip plus white noise at 10 dB SNR (seeded).

Also, per condition, how often the degraded copy's nearest original *is* its own original (`own_r1`,
the own original kept in the gallery), and, for the UCS heads (`heads`), how well each head's top
class follows the kinds (normalised mutual information between top class and kind, and the share of
same-kind pairs vs different-kind pairs that get the same top class): the reason for the KL head.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SR = 16000
MAX_S = 10.0


def demo_clips(demo: Path) -> tuple[list[np.ndarray], list[str], list[str]]:
    """(audio `[T]` at 16 kHz, kind, corpus:source) of the single-kind, speech-free, decodable clips."""
    from audiogen.io.audio import decode, resample, to_mono

    doc = json.loads((demo / "demo_expectations.json").read_text(encoding="utf-8"))
    audios, kinds, names = [], [], []
    for name, corpus in sorted(doc["corpora"].items()):
        for c in corpus["clips"]:
            if len(c["kinds"]) != 1 or c["broken"] or c["speech"] or c.get("spoken"):
                continue
            x, sr = decode(str(demo / corpus["root"] / c["audio"]), float(c.get("offset_s") or 0.0), c.get("duration_s"))
            x = resample(to_mono(x), sr, SR)[: int(MAX_S * SR)].astype(np.float32)
            audios.append(x)
            kinds.append(c["kinds"][0])
            names.append(f"{name}:{c['source']}")
    return audios, kinds, names


def lowpass(x: np.ndarray, cutoff_hz: float = 4000.0) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(8, cutoff_hz, btype="low", fs=SR, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def add_white_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(np.asarray(x, np.float64) ** 2))
    noise = rng.standard_normal(x.size) * np.sqrt(power / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def nmi(a: list, b: list) -> float:
    """Normalised mutual information (arithmetic mean of the entropies) between two labelings."""
    n = len(a)
    joint = Counter(zip(a, b))
    pa, pb = Counter(a), Counter(b)
    mi = sum(c / n * np.log(c * n / (pa[x] * pb[y])) for (x, y), c in joint.items())
    h = lambda p: -sum(c / n * np.log(c / n) for c in p.values())  # noqa: E731
    return float(2 * mi / (h(pa) + h(pb))) if h(pa) + h(pb) > 0 else float("nan")


def main(argv: list[str] | None = None) -> dict:
    from audiogen.evaluation.backends.aisfx import UCS_HEADS, AisfxBackend
    from audiogen.evaluation.metrics.retrieval import cosine_similarity, kind_accuracy, own_reference_ranks

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", default="data/raw/demo")
    ap.add_argument("--out", default="benchmarks/results/judge.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    demo = Path(args.demo)
    if not (demo / "demo_expectations.json").is_file():
        raise SystemExit(f"judge: {demo}/demo_expectations.json not found: build it with "
                         f"`python -m pipeline.demo --out {demo}`")
    t0 = time.time()
    audios, kinds, names = demo_clips(demo)
    backend = AisfxBackend.load()
    rng = np.random.default_rng(args.seed)
    conditions = {"original": audios, "lowpass_4khz": [lowpass(x) for x in audios],
                  "white_noise_10db": [add_white_noise(x, 10.0, rng) for x in audios]}
    n = len(audios)
    owner = np.arange(n)
    seed = json.loads((demo / "demo_expectations.json").read_text(encoding="utf-8")).get("seed")
    result: dict = {"command": " ".join(["python benchmarks/judge.py", *(sys.argv[1:] if argv is None else argv)]),
                    "demo_seed": seed, "noise_seed": args.seed, "judge": backend.name,
                    "clips": n, "kinds": len(set(kinds)), "kind_counts": dict(sorted(Counter(kinds).items())),
                    "similarity": "cosine of clip embeddings (block embeddings averaged)", "conditions": {}}
    originals, probs = None, {}
    # Per condition: queries against the originals, each query's own original left out of the gallery.
    for cond, clips in conditions.items():
        emb = backend.embed(clips, SR)
        if originals is None:
            originals = emb
        sim = cosine_similarity(emb, originals)
        acc, _ = kind_accuracy(sim, owner, kinds, [[k] for k in kinds])
        ranks = own_reference_ranks(sim, owner)
        result["conditions"][cond] = {"nn_kind_accuracy": round(acc.accuracy, 4), "chance": round(acc.chance, 4),
                                      "queries": acc.n,
                                      **({} if cond == "original" else {"own_r1": round(float(np.mean(ranks == 1)), 4)})}
        print(f"judge: {cond:<17} nearest-neighbour kind {acc.accuracy:.1%} (chance {acc.chance:.1%}, "
              f"{acc.n} clips, {acc.kinds} kinds)", file=sys.stderr)
    same = np.equal.outer(np.array(kinds), np.array(kinds))
    off_diag = ~np.eye(n, dtype=bool)
    for head in UCS_HEADS:
        backend.head = head
        top = np.argmax(backend.label_probs(audios, SR), axis=1)
        agree = np.equal.outer(top, top)
        probs[head] = {"nmi_top_class_kind": round(nmi(list(top), kinds), 4),
                       "top_class_shared_same_kind": round(float(agree[same & off_diag].mean()), 4),
                       "top_class_shared_different_kind": round(float(agree[~same].mean()), 4),
                       "distinct_top_classes": int(len(set(top.tolist())))}
    result["heads"] = probs
    result["seconds"] = round(time.time() - t0, 1)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
