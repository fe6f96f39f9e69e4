"""Score an LM the way the paper does: `python -m audiogen.evaluate --lm models/lm --split test --out reports/eval`.

For the reference clips of the evaluation split (the AudioCaps test split on real data; the demo's
test and valid splits in the demo), generate audio for their captions with the durations of the
references, then measure:

- FAD between embeddings of references and generations (`evaluate.fad_backend`),
- KL between the label distributions a classifier gives each reference and its generation (`kl_backend`),
- a CLAP(-like) text–audio score of the generations (`clap_backend`),
- the same three for the references passed through the codec: the codec's ceiling (audiocraft's `use_gt`),
- FAD and KL for each guidance coefficient of `evaluate.cfg_sweep` (the paper's figure),
- with the tagger or aisfx: how often the generation's top label (class) matches its reference's, beside chance,
- with a judge (`evaluate.judge`, the demo's `aisfx`): generation → own-reference retrieval R@1/R@5 by
  the judge's similarity, and, where the references' sound kinds are known (`evaluate.kinds`, the
  demo's demo_expectations.json), the judge's nearest-reference kind accuracy of references, codec
  renderings and generations, each beside chance (`audiogen.evaluation.judge`).

Outputs in `--out`: `metrics.json` (flat keys for `dvc exp show`; each figure with its clip counts
and backend), `per_clip.csv`, `cfg_sweep.json` (DVC plot), `sweep.png`, spectrogram PNGs, WAVs and
`index.html` (open it from disk: relative links only).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audiogen.io.arguments import (ParamError, check_numbers, key_value, nonnegative_float, nonnegative_int,
                                   number_list, positive_float, positive_int, probability, seed)
from audiogen.io.configs import check_keys

log = logging.getLogger("audiogen.evaluate")


@dataclass(frozen=True)
class EvalConfig:
    cfg: float = 3.0                       # guidance γ of the headline figures
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    seed: int = 0
    cfg_sweep: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
    splits: tuple[str, ...] = ("test",)    # reference splits (the demo adds valid: FAD needs many clips)
    num_clips: int = 0                     # references used (0: all)
    generations_per_caption: int = 1       # several seeds per caption: more generated clips for FAD
    max_duration_s: float = 10.0           # references longer than this are cut (the reference's max)
    report_clips: int = 8                  # captions shown with players and spectrograms
    batch_size: int = 8
    fad_backend: str = "tagger"            # tagger | vggish:/path | a CLAP hub name or path
    kl_backend: str = "tagger"             # tagger | an AST classifier hub name or path
    clap_backend: str = "tagger"           # tagger | a CLAP hub name or path
    tagger: str = "models/tagger"          # the in-domain tagger checkpoint
    judge: str = ""                        # retrieval and kind figures by this backend's embeddings ("": none)
    kinds: str = ""                        # demo_expectations.json giving the references' sound kinds ("": none)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "EvalConfig":
        d = dict(d or {})
        check_keys(cls, d, "params.yaml evaluate")
        if "cfg_sweep" in d:
            d["cfg_sweep"] = number_list(d["cfg_sweep"], "evaluate.cfg_sweep")
        if "splits" in d:
            if not isinstance(d["splits"], (list, tuple)) or not all(isinstance(x, str) for x in d["splits"]):
                raise ParamError(f"evaluate.splits: expected a list of split names (e.g. [test]), got {d['splits']!r}")
            d["splits"] = tuple(d["splits"])
        cfg = cls(**d)
        check_numbers(cfg, EVAL_NUMBERS, "evaluate")
        return cfg


EVAL_NUMBERS = {
    "cfg": nonnegative_float, "top_k": nonnegative_int, "top_p": probability, "temperature": nonnegative_float,
    "seed": seed, "cfg_sweep": nonnegative_float, "num_clips": nonnegative_int,
    "generations_per_caption": positive_int, "max_duration_s": positive_float, "report_clips": nonnegative_int,
    "batch_size": positive_int,
}


@dataclass
class Reference:
    key: str
    caption: str
    audio: np.ndarray   # [T] float32 at the codec's rate
    labels: list[str] = field(default_factory=list)
    kinds: tuple[str, ...] = ()   # the demo's sound kinds of the clip (evaluate.kinds), empty when unknown


def load_references(audio_dir: Path, cfg: EvalConfig, sample_rate: int) -> list[Reference]:
    """Clips of the evaluation splits, sorted by key, cut to `max_duration_s`."""
    from audiogen.evaluation.reference_kinds import DemoKinds
    from audiogen.io.shards import iter_audio_samples, list_shards

    try:
        kinds = DemoKinds.read(cfg.kinds)
    except ValueError as err:
        raise SystemExit(f"evaluate: evaluate.kinds: {err}") from None
    refs = []
    for split in cfg.splits:
        paths = list_shards(audio_dir, split=split)
        for s in iter_audio_samples(paths, shuffle=False, seed=0):
            if s.sample_rate != sample_rate:
                raise SystemExit(f"evaluate: {s.shard}: {s.key} is at {s.sample_rate} Hz, the codec at {sample_rate}")
            n = int(cfg.max_duration_s * sample_rate)
            refs.append(Reference(s.key, str(s.meta.get("caption") or ""), s.audio[:n], list(s.meta.get("labels") or []),
                                  kinds.lookup(s.meta.get("corpus"), s.meta.get("source"), s.meta.get("audio_path"))))
    refs.sort(key=lambda r: r.key)
    if cfg.num_clips:
        refs = refs[: cfg.num_clips]
    if not refs:
        raise SystemExit(f"evaluate: no reference clips for splits {list(cfg.splits)} in {audio_dir}")
    return refs


def generate_for(gen, refs: list[Reference], cfg: EvalConfig, gamma: float) -> list[list[np.ndarray]]:
    """`generations_per_caption` clips per reference, each as long as its reference; batched by
    similar duration (a batch is generated at its longest duration and each clip cut)."""
    out: list[list[np.ndarray]] = [[] for _ in refs]
    order = sorted(range(len(refs)), key=lambda i: (len(refs[i].audio), refs[i].key))
    for g in range(cfg.generations_per_caption):
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start: start + cfg.batch_size]
            dur = max(len(refs[i].audio) for i in idx) / gen.sample_rate
            wavs = gen.generate([refs[i].caption for i in idx], dur, cfg=gamma, top_k=cfg.top_k, top_p=cfg.top_p,
                                temperature=cfg.temperature, seed=cfg.seed + 1000 * g + start)
            for i, w in zip(idx, wavs):
                out[i].append(w[: len(refs[i].audio)])
    return out


def codec_roundtrip(codec, refs: list[Reference]) -> list[np.ndarray]:
    import torch

    out = []
    for r in refs:
        codes = codec.encode(torch.from_numpy(r.audio)[None, None])
        out.append(codec.decode(codes)[0, 0, : len(r.audio)].float().numpy())
    return out


def score(backends: dict[str, Any], refs: list[Reference], sets: list[list[np.ndarray]], sr: int,
          ref_cache: dict[str, Any]) -> dict[str, Any]:
    """FAD, KL and text–audio score of generated sets against the references. `sets[i]` holds the
    clips made for reference i; KL pairs each clip with its own reference."""
    from audiogen.evaluation.metrics.fad import fad
    from audiogen.evaluation.metrics.kl import kl_divergence

    flat = [w for clips in sets for w in clips]
    owner = [i for i, clips in enumerate(sets) for _ in clips]
    if "fad_ref" not in ref_cache:
        ref_cache["fad_ref"] = backends["fad"].embed([r.audio for r in refs], sr)
        ref_cache["kl_ref"] = backends["kl"].label_probs([r.audio for r in refs], sr)
    gen_emb = backends["fad"].embed(flat, sr)
    res = fad(ref_cache["fad_ref"], gen_emb)
    gen_probs = backends["kl"].label_probs(flat, sr)
    kl = kl_divergence(ref_cache["kl_ref"][owner], gen_probs)
    texts = [refs[i].caption for i in owner]
    clap = text_audio(backends["clap"], texts, flat, sr)
    extra = {}
    if "kl_codec_ref" in ref_cache:  # against the references as the codec renders them (see evaluate)
        extra["kl_vs_codec_ref"] = kl_divergence(ref_cache["kl_codec_ref"][owner], gen_probs).kld_pq
    return {**extra, "fad": res.fad, "fad_n_ref": res.count_a, "fad_n_gen": res.count_b, "fad_singular": res.singular,
            "kl": kl.kld_pq, "kl_both": kl.kld_both, "kl_n": len(flat), "kl_per_clip": kl.per_pair.tolist(),
            "clap": float(np.nanmean(clap)) if np.isfinite(clap).any() else float("nan"),
            "clap_n": int(np.isfinite(clap).sum()), "clap_per_clip": clap.tolist(), "gen_probs": gen_probs,
            "gen_emb": gen_emb}


def text_audio(backend, texts: list[str], audios: list[np.ndarray], sr: int) -> np.ndarray:
    if hasattr(backend, "text_audio_scores"):
        return np.asarray(backend.text_audio_scores(texts, audios, sr), dtype=np.float64)
    from audiogen.evaluation.metrics.clap import cosine_per_pair

    return cosine_per_pair(backend.embed_text(texts), backend.embed(audios, sr))


def top_label_agreement(backend, ref_audio: list[np.ndarray], sets: list[list[np.ndarray]], sr: int) -> dict[str, float]:
    """How often the tagger's top label of a generation equals its reference's, and the rate two
    independent draws from those top-label frequencies would match (chance)."""
    if not hasattr(backend, "tag_probs"):
        return {}
    ref_top = np.argmax(backend.tag_probs(ref_audio, sr), axis=1)
    flat = [w for clips in sets for w in clips]
    owner = np.array([i for i, clips in enumerate(sets) for _ in clips])
    gen_top = np.argmax(backend.tag_probs(flat, sr), axis=1)
    c = max(int(ref_top.max()), int(gen_top.max())) + 1
    f_ref = np.bincount(ref_top[owner], minlength=c) / len(owner)
    f_gen = np.bincount(gen_top, minlength=c) / len(gen_top)
    return {"match": float(np.mean(gen_top == ref_top[owner])), "chance": float(f_ref @ f_gen)}


def load_backends(cfg: EvalConfig) -> dict[str, Any]:
    from audiogen.evaluation.backends.registry import BackendUnavailable, load_backend

    cache: dict[str, Any] = {}
    out = {}
    roles = [("fad", cfg.fad_backend), ("kl", cfg.kl_backend), ("clap", cfg.clap_backend)]
    for key, spec in roles + ([("judge", cfg.judge)] if cfg.judge else []):
        label = "judge (evaluate.judge: needs embeddings)" if key == "judge" else f"{key} backend"
        role = "fad" if key == "judge" else key  # the judge ranks clips by their embeddings
        spec = f"tagger:{cfg.tagger}" if spec == "tagger" else spec
        try:
            backend = cache[spec] if spec in cache else load_backend(spec, role)
            if role not in getattr(backend, "roles", {role}):
                raise BackendUnavailable(f"it cannot serve as the {role} backend (roles: {sorted(backend.roles)})")
        except (OSError, ValueError, BackendUnavailable) as err:
            raise SystemExit(f"evaluate: {label} {spec!r}: {err}") from None
        cache[spec] = out[key] = backend
    return out


def evaluate(lm_dir: Path, audio_dir: Path, out: Path, cfg: EvalConfig, device: str = "cpu") -> dict[str, Any]:
    from audiogen.generation import AudioGen, GenerationError
    from audiogen.evaluation.report.build import build_report
    from audiogen.evaluation.report.commit import staged_report

    from audiogen.io.checkpoint import CheckpointError

    t0 = time.time()
    try:
        gen = AudioGen.from_pretrained(lm_dir, device=device)
    except (GenerationError, CheckpointError) as err:  # a missing or damaged checkpoint: one line
        raise SystemExit(f"evaluate: {err}") from None
    sr = gen.sample_rate
    refs = load_references(audio_dir, cfg, sr)
    backends = load_backends(cfg)
    log.info("evaluate: %d reference clips (%s), %d generations each, CFG sweep %s",
             len(refs), "+".join(cfg.splits), cfg.generations_per_caption, list(cfg.cfg_sweep))
    ref_cache: dict[str, Any] = {}
    codec_set = [[w] for w in codec_roundtrip(gen.codec, refs)]
    ceiling = score(backends, refs, codec_set, sr, ref_cache)
    # Generations can only sound like what the codec can render: besides the originals, compare
    # them with the references passed through the codec, which isolates the LM from the codec.
    ref_cache["kl_codec_ref"] = backends["kl"].label_probs([c[0] for c in codec_set], sr)
    judge, judge_sets = None, {}
    if "judge" in backends:
        from audiogen.evaluation.judge import Judge

        reuse = backends["judge"] is backends["fad"]  # same network: its FAD embeddings are the judge's
        judge = Judge(backends["judge"], [r.audio for r in refs], [r.kinds for r in refs], sr,
                      ref_cache["fad_ref"] if reuse else None)
        judge_sets["codec"] = judge.score(codec_set, ceiling["gen_emb"] if reuse else None)
    generated: dict[float, list[list[np.ndarray]]] = {}
    sweep = []
    from tqdm import tqdm

    for gamma in tqdm(sorted(set(cfg.cfg_sweep) | {cfg.cfg}), desc="evaluate: generate", unit="γ", file=sys.stderr):
        generated[gamma] = generate_for(gen, refs, cfg, gamma)
        s = score(backends, refs, generated[gamma], sr, ref_cache)
        s["agreement"] = top_label_agreement(backends["kl"], [r.audio for r in refs], generated[gamma], sr)
        s["agreement_codec"] = top_label_agreement(backends["kl"], [c[0] for c in codec_set], generated[gamma], sr)
        if judge is not None:
            judge_sets[gamma] = judge.score(generated[gamma], s["gen_emb"] if reuse else None)
        if gamma in cfg.cfg_sweep:
            sweep.append({"cfg": gamma, "fad": s["fad"], "kl": s["kl"], "clap": s["clap"],
                          "kl_vs_codec_ref": s["kl_vs_codec_ref"],
                          **({"top_label_match": s["agreement"]["match"],
                              "top_label_match_codec_ref": s["agreement_codec"]["match"]} if s["agreement"] else {})})
        if gamma == cfg.cfg:
            main = s
    metrics = flat_metrics(cfg, main, ceiling, sweep, len(refs))
    if isinstance(getattr(backends["kl"], "head", None), str):  # a classifier with several heads: name KL's
        metrics["kl_backend"] = f"{cfg.kl_backend} ({backends['kl'].head} head)"
    view = None
    if judge is not None:
        from audiogen.evaluation.judge import flat_judge_metrics, report_view

        metrics.update(flat_judge_metrics(cfg.judge, len(refs), judge.references, judge_sets["codec"],
                                          judge_sets[cfg.cfg], {g: judge_sets[g] for g in cfg.cfg_sweep}))
        view = report_view(judge, judge_sets["codec"], judge_sets[cfg.cfg], [r.key for r in refs], [r.caption for r in refs])
    metrics["seconds"] = round(time.time() - t0, 1)
    with staged_report(out) as staging:  # the whole report at once, or the previous one left as it was
        build_report(staging, cfg, metrics, refs, codec_set, generated[cfg.cfg], main, ceiling, sweep, backends, sr,
                     judge=view)
    return metrics


def flat_metrics(cfg: EvalConfig, main: dict, ceiling: dict, sweep: list[dict], n_refs: int) -> dict[str, Any]:
    m: dict[str, Any] = {"cfg": cfg.cfg, "n_references": n_refs, "n_generated": main["kl_n"],
                         "fad": main["fad"], "kl": main["kl"], "kl_both": main["kl_both"], "clap": main["clap"],
                         "clap_n": main["clap_n"], "fad_singular": main["fad_singular"],
                         "codec_fad": ceiling["fad"], "codec_kl": ceiling["kl"], "codec_clap": ceiling["clap"],
                         "fad_backend": cfg.fad_backend, "kl_backend": cfg.kl_backend, "clap_backend": cfg.clap_backend}
    m["kl_vs_codec_ref"] = main["kl_vs_codec_ref"]
    if main.get("agreement"):
        m["top_label_match"] = main["agreement"]["match"]
        m["top_label_chance"] = main["agreement"]["chance"]
        m["top_label_match_codec_ref"] = main["agreement_codec"]["match"]
        m["top_label_chance_codec_ref"] = main["agreement_codec"]["chance"]
    for row in sweep:
        g = f"{row['cfg']:g}"
        m[f"sweep_fad_cfg{g}"] = row["fad"]
        m[f"sweep_kl_cfg{g}"] = row["kl"]
        m[f"sweep_kl_codec_ref_cfg{g}"] = row["kl_vs_codec_ref"]
        if "top_label_match" in row:
            m[f"sweep_match_cfg{g}"] = row["top_label_match"]
            m[f"sweep_match_codec_ref_cfg{g}"] = row["top_label_match_codec_ref"]
    return m


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m audiogen.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--lm", default="models/lm")
    ap.add_argument("--audio", default="data/shards/audio", help="audio shards holding the reference clips")
    ap.add_argument("--split", action="append", help="reference split (repeatable; default params evaluate.splits)")
    ap.add_argument("--out", default="reports/eval")
    ap.add_argument("--params", help="params.yaml (default ./params.yaml or $AUDIOGEN_PARAMS)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                    help="override an evaluate param, e.g. --set num_clips=8 --set cfg_sweep=[1,3] (YAML values)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from audiogen.io.arguments import config_or_exit
    from audiogen.io.params import params_path, params_section

    # A bad --set value: argparse error (exit 2); a bad params.yaml value: one line naming it (exit 1).
    pairs = args.set + ([("splits", args.split)] if args.split else [])
    cfg = config_or_exit(ap, EvalConfig.from_dict, params_section("evaluate", args.params), pairs,
                         str(params_path(args.params)))
    from audiogen.io.atomic import OutputError

    try:
        m = evaluate(Path(args.lm), Path(args.audio), Path(args.out), cfg, args.device)
    except OutputError as err:  # a failed write (disk full, no folder): one line; the previous report stays
        raise SystemExit(f"evaluate: {err}") from None
    sweep = ", ".join(f"γ={g:g}: FAD {m[f'sweep_fad_cfg{g:g}']:.2f} KL {m[f'sweep_kl_cfg{g:g}']:.3f}" for g in cfg.cfg_sweep)
    match = (f", top label matches {m['top_label_match']:.0%} (chance {m['top_label_chance']:.0%})"
             if "top_label_match" in m else "")
    judge = ""
    if "judge_backend" in m:
        judge = (f"; judge {m['judge_backend']}: generation → own reference R@1 {m['judge_r1']:.0%} "
                 f"(chance {m['judge_r1_chance']:.0%}), R@5 {m['judge_r5']:.0%} (chance {m['judge_r5_chance']:.0%})")
        if "judge_kind_reference" in m:
            judge += (f", nearest reference of the own kind: references {m['judge_kind_reference']:.0%}, codec "
                      f"{m['judge_kind_codec']:.0%}, generations {m['judge_kind_generated']:.0%} "
                      f"(chance {m['judge_kind_chance']:.0%})")
    print(f"evaluate: γ={cfg.cfg:g} on {m['n_references']} references / {m['n_generated']} generations: "
          f"FAD {m['fad']:.2f}, KL {m['kl']:.3f}, CLAP {m['clap']:.3f}{match}; codec ceiling FAD {m['codec_fad']:.2f}, "
          f"KL {m['codec_kl']:.3f}, CLAP {m['codec_clap']:.3f}{judge}; sweep {sweep} → {Path(args.out) / 'index.html'}",
          flush=True)
    return m

