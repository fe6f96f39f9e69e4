"""The evaluation report a person opens: `reports/eval/index.html` with the metrics table, the CFG
sweep plot and, for a sample of captions, the reference, the codec-reconstructed reference and the
generated audio as players beside their spectrograms. Relative links only: it opens from disk.

Pictures are PNGs drawn with matplotlib's Agg backend (no display needed).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass
class ReportClip:
    """One row of the listening table: audio files and spectrogram PNGs, relative to the report."""

    caption: str
    key: str
    audio: dict[str, str]         # {"reference": "audio/x_ref.wav", "codec": ..., "generated": ...}
    spectrograms: dict[str, str]  # same keys → PNG paths
    top_labels: dict[str, str]    # same keys → the tagger's top label (may be empty)
    judge_nearest: dict[str, str] = field(default_factory=dict)  # same keys → the judge's nearest reference
    kinds: str = ""               # the reference's sound kinds, when known


def log_mel(wav: np.ndarray, sr: int, n_mels: int = 64, n_fft: int = 1024, hop: int = 160) -> np.ndarray:
    """`[T]` → log-mel `[n_mels, frames]` in dB (for pictures only)."""
    from audiogen.codec.losses import mel_filterbank

    x = np.asarray(wav, dtype=np.float32)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2  # [frames, F]
    fb = np.asarray(mel_filterbank(sr, n_fft, n_mels))  # [n_mels, F]
    return 10.0 * np.log10(fb @ spec.T + 1e-10)


def save_spectrogram(wav: np.ndarray, sr: int, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel = log_mel(wav, sr)
    fig, ax = plt.subplots(figsize=(4.0, 1.8), dpi=80)
    top = float(mel.max()) if mel.size else 0.0
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
              extent=(0, len(wav) / sr, 0, mel.shape[0]))
    ax.set_xlabel("s", fontsize=7)
    ax.set_ylabel("mel", fontsize=7)
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def save_sweep_plot(sweep: Sequence[dict[str, float]], path: Path) -> None:
    """FAD and KL against the guidance coefficient γ (the paper's figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [r["cfg"] for r in sweep]
    fig, ax1 = plt.subplots(figsize=(4.5, 2.8), dpi=90)
    ax1.plot(g, [r["fad"] for r in sweep], "o-", color="tab:blue", label="FAD")
    ax1.set_xlabel("classifier-free guidance γ")
    ax1.set_ylabel("FAD", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(g, [r["kl"] for r in sweep], "s--", color="tab:red", label="KL")
    ax2.set_ylabel("KL", color="tab:red")
    ax1.set_title("CFG sweep (lower is better)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}
th{background:#f3f3f3}.clip td{text-align:center}.clip img{display:block;width:320px}
audio{width:320px}.caption{text-align:left;max-width:220px}.note{color:#555;font-size:13px}"""


def write_index(out: Path, metrics: dict[str, Any], rows: list[tuple[str, str, str, str]], clips: list[ReportClip],
                sweep_png: str | None, notes: list[str]) -> Path:
    """`rows`: (metric, value, against, backend) lines of the metrics table."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>audiogen evaluation</title>"
             f"<style>{_CSS}</style></head><body><h1>audiogen evaluation</h1>"]
    parts += [f"<p class='note'>{e(n)}</p>" for n in notes]
    parts.append("<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>against</th><th>backend</th></tr>")
    parts += [f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td><td>{e(d)}</td></tr>" for a, b, c, d in rows]
    parts.append("</table>")
    if sweep_png:
        parts.append(f"<h2>Classifier-free guidance sweep</h2><img src='{e(sweep_png)}' alt='CFG sweep'>")
    kinds = ["reference", "codec", "generated"]
    titles = {"reference": "reference", "codec": "reference through the codec", "generated": "generated"}
    parts.append("<h2>Listen</h2><table class='clip'><tr><th>caption</th>"
                 + "".join(f"<th>{titles[k]}</th>" for k in kinds) + "</tr>")
    for c in clips:
        kind_note = f"<br><span class='note'>kind: {e(c.kinds)}</span>" if c.kinds else ""
        cells = [f"<td class='caption'>{e(c.caption)}<br><span class='note'>{e(c.key)}</span>{kind_note}</td>"]
        for k in kinds:
            if k not in c.audio:
                cells.append("<td></td>")
                continue
            label = c.top_labels.get(k, "")
            cells.append(f"<td><audio controls preload='none' src='{e(c.audio[k])}'></audio>"
                         f"<img src='{e(c.spectrograms[k])}' alt='{e(k)} spectrogram'>"
                         + (f"<span class='note'>tagger: {e(label)}</span>" if label else "")
                         + (f"<br><span class='note judge'>judge's nearest reference: {e(c.judge_nearest[k])}</span>"
                            if k in c.judge_nearest else "") + "</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
