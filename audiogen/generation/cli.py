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
from audiogen.generation.pipeline import AudioGen, GenerationError


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(prog="python -m audiogen.generate", description=__doc__.split("\n")[0])
    ap.add_argument("caption", nargs="?", default=None, help="what to generate (omit with --prompt for audio-only continuation)")
    ap.add_argument("-o", "--out", default="out.wav", help="output WAV (16-bit, codec sample rate)")
    ap.add_argument("--captions", help="a text file, one caption per line: one WAV each in --out-dir")
    ap.add_argument("--out-dir", default="generated", help="folder for --captions outputs")
    ap.add_argument("--lm", default="models/lm", help="LM checkpoint directory")
    ap.add_argument("--codec", default=None, help="codec directory (default: the one the LM records)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds (default %(default)s)")
    ap.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance γ (1 = none)")
    ap.add_argument("--top-k", type=int, default=250)
    ap.add_argument("--top-p", type=float, default=0.0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", help="audio file to continue (any sample rate)")
    ap.add_argument("--stride", type=float, default=None,
                    help="new seconds per sliding window past the segment (default 2, at most half the segment)")
    ap.add_argument("--batch-size", type=int, default=8, help="captions per batch with --captions")
    ap.add_argument("--loudness", type=float, default=None, help="normalise each output to this RMS dBFS, e.g. -16")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return _run(args)
    except (GenerationError, FileNotFoundError) as err:
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

