"""`python -m audiogen.convert`: Meta's released AudioGen in and out of this project's format.

    python -m audiogen.convert from-audiocraft --lm state_dict.bin --codec compression_state_dict.bin --out models/audiogen-medium
    python -m audiogen.convert from-audiocraft --from DIR --out models/audiogen-medium      # a folder holding both files
    python -m audiogen.convert from-audiocraft --from facebook/audiogen-medium              # Hugging Face id → cache folder
    python -m audiogen.convert to-audiocraft --lm models/audiogen-medium/lm --out export/

Then: `python -m audiogen.generate "a dog barks" --lm models/audiogen-medium/lm -o dog.wav`.
The released weights are CC-BY-NC 4.0 (non-commercial use only).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m audiogen.convert", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("from-audiocraft", help="audiocraft packages → OUT/lm + OUT/codec")
    f.add_argument("--lm", help="the LM package (state_dict.bin)")
    f.add_argument("--codec", help="the codec package (compression_state_dict.bin)")
    f.add_argument("--from", dest="source",
                   help="a folder holding both files, or a Hugging Face id (facebook/audiogen-medium)")
    f.add_argument("--out", help="output folder (default for a Hugging Face id: a cache folder, see --help)")
    f.add_argument("--text-encoder", help="T5 to record instead of the package's (a local folder for offline use)")
    f.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    t = sub.add_parser("to-audiocraft", help="OUT/lm (+ its codec) → state_dict.bin + compression_state_dict.bin")
    t.add_argument("--lm", required=True, help="LM checkpoint folder")
    t.add_argument("--codec", help="codec folder (default: the one the LM records)")
    t.add_argument("--out", required=True, help="output folder for the two packages")
    t.add_argument("--t5", dest="t5_name", help="audiocraft T5 name for the xp.cfg (default: the recorded one)")
    t.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    args = ap.parse_args(argv)

    from audiogen.convert.package import ConversionError

    try:
        if args.command == "from-audiocraft":
            from audiogen.convert.api import from_audiocraft

            out = from_audiocraft(args.lm, args.codec, args.out, source=args.source, text_encoder=args.text_encoder,
                                  overwrite=args.overwrite)
            print(f"convert: {out}/lm and {out}/codec; generate with "
                  f"`python -m audiogen.generate \"a dog barks\" --lm {out}/lm -o dog.wav`", flush=True)
        else:
            from audiogen.convert.api import to_audiocraft

            out = to_audiocraft(args.lm, args.out, codec=args.codec, t5_name=args.t5_name, overwrite=args.overwrite)
            print(f"convert: {out}/state_dict.bin and {out}/compression_state_dict.bin (audiocraft's format)", flush=True)
    except (ConversionError, FileNotFoundError) as err:
        raise SystemExit(f"audiogen.convert: {err}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
