"""Text → sound: `python -m audiogen.generate "a dog barks while church bells ring" -o out.wav`.

    python -m audiogen.generate "rain on a tin roof" -o rain.wav [--lm models/lm --duration 5 --cfg 3
        --top-k 250 --top-p 0 --temperature 1 --seed 0 --prompt x.wav --stride 2 --loudness -16]
    python -m audiogen.generate --captions captions.txt --out-dir out/     # one WAV per line, batched

The Python API and how long sounds and prompts work: `audiogen.generation.pipeline.AudioGen`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from audiogen.generation.files import normalize_loudness, read_captions, read_prompt, slug, write_wav
from audiogen.generation.pipeline import MAX_DURATION_S, AudioGen, GenerationError
from audiogen.io.arguments import float_in, nonnegative_float, nonnegative_int, positive_float, positive_int, probability, seed


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(prog="python -m audiogen.generate", description=__doc__.split("\n")[0])
    ap.add_argument("caption", nargs="?", default=None, help="what to generate (omit with --prompt for audio-only continuation)")
    ap.add_argument("-o", "--out", default="out.wav", help="output WAV (16-bit, codec sample rate)")
    ap.add_argument("--captions", help="a text file, one caption per line: one WAV each in --out-dir")
    ap.add_argument("--out-dir", default="generated", help="folder for --captions outputs")
    ap.add_argument("--lm", default="models/lm", help="LM checkpoint directory")
    ap.add_argument("--codec", default=None, help="codec directory (default: the one the LM records)")
    ap.add_argument("--duration", type=float_in(0, MAX_DURATION_S, lo_open=True), default=5.0,
                    help=f"seconds, in (0, {MAX_DURATION_S:g}] (default %(default)s)")
    ap.add_argument("--cfg", type=nonnegative_float, default=3.0, help="classifier-free guidance γ >= 0 (1 = none)")
    ap.add_argument("--top-k", type=nonnegative_int, default=250, help="sample among the k likeliest tokens (0: all)")
    ap.add_argument("--top-p", type=probability, default=0.0, help="nucleus sampling, in [0, 1] (0: off; wins over top-k)")
    ap.add_argument("--temperature", type=nonnegative_float, default=1.0, help=">= 0 (0: greedy)")
    ap.add_argument("--seed", type=seed, default=0, help=f"in [0, {seed.hi}]")
    ap.add_argument("--prompt", help="audio file to continue (any sample rate)")
    ap.add_argument("--stride", type=positive_float, default=None,
                    help="new seconds per sliding window past the segment (default 2, at most half the segment)")
    ap.add_argument("--batch-size", type=positive_int, default=8, help="captions per batch with --captions")
    ap.add_argument("--loudness", type=float_in(-100, 0), default=None,
                    help="normalise each output to this RMS dBFS, in [-100, 0], e.g. -16")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from audiogen.io.checkpoint import CheckpointError

    try:
        return _run(args)
    except (GenerationError, CheckpointError, FileNotFoundError) as err:  # bad inputs: one line, no traceback
        raise SystemExit(f"audiogen.generate: {err}") from None


def _run(args: argparse.Namespace) -> list[Path]:
    import time

    skipped = 0
    if args.captions:
        captions, skipped = read_captions(args.captions)
        outs = [Path(args.out_dir) / f"{i:04d}_{slug(c)}.wav" for i, c in enumerate(captions)]
    elif args.caption is not None or args.prompt:
        captions, outs = [args.caption or ""], [Path(args.out)]
    else:
        raise GenerationError("give a caption, --captions FILE, or --prompt AUDIO")
    prompt, prompt_sr = read_prompt(args.prompt) if args.prompt else (None, None)
    gen = AudioGen.from_pretrained(args.lm, device=args.device, codec_dir=args.codec)
    t0 = time.time()
    for start in range(0, len(captions), max(1, args.batch_size)):
        batch = captions[start: start + args.batch_size]
        wavs = gen.generate(batch, args.duration, cfg=args.cfg, top_k=args.top_k, top_p=args.top_p,
                            temperature=args.temperature, seed=args.seed + start, prompt=prompt, prompt_sr=prompt_sr,
                            stride_s=args.stride, progress=True)
        for wav, path in zip(wavs, outs[start: start + len(batch)]):
            if args.loudness is not None:
                wav = normalize_loudness(wav, args.loudness)
            write_wav(path, wav, gen.sample_rate)
    dt = time.time() - t0
    note = f", {skipped} empty lines skipped" if skipped else ""
    print(f"generate: {len(outs)} × {args.duration:g} s at {gen.sample_rate} Hz (cfg {args.cfg:g}) in {dt:.1f} s "
          f"({len(outs) * args.duration / max(dt, 1e-9):.2f}× real time){note} → "
          f"{outs[0] if len(outs) == 1 else args.out_dir}", flush=True)
    return outs

