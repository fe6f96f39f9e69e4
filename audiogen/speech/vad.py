"""Voice activity detection: how many seconds of a clip are speech, from the audio itself.

The detector is Silero VAD, whose pretrained TorchScript model ships inside the PyPI wheel
`silero-vad` (`silero_vad/data/silero_vad.jit`): it is loaded with `torch.jit.load` from the
installed package's files (no download, no torchaudio; the package is not even imported, since
importing it sets torch's global thread count). Install it without extras, which pull torchaudio:
`pip install --no-deps 'silero-vad>=5'`.

The model scores 512-sample windows of 16 kHz audio (32 ms), each preceded by the previous
window's last 64 samples, with an LSTM state carried from window to window. Upstream runs it one
window at a time in a Python loop (`model(x[:, i:i+512], 16000)`); here the same weights run as:
  1. the model's own STFT + conv encoder on every window of every clip at once   `[N, 576] → [N, 128]`
  2. its LSTM cell as a `torch.nn.LSTM` over time, batched over clips            `[B, T, 128] → [B, T, 128]`
  3. its decoder (ReLU, 1×1 conv, sigmoid) on all outputs                          `[B, T]` probabilities
which gives the upstream probabilities (to float rounding, checked in tests/test_vad.py) at a
fraction of the cost. Clips are zero-padded to whole windows, as upstream; padding at the end
never reaches earlier outputs (the LSTM is causal), so clips of any lengths share one batch.
Probabilities become segments with upstream's rules (`get_speech_timestamps`: start at
`threshold`, end after `min_silence_s` below `neg_threshold`, drop segments under `min_speech_s`,
pad by `speech_pad_s`).

API:
    VadConfig(threshold=0.5, ..., device="cpu")
    VoiceActivityDetector(cfg).detect(clips) -> list[SpeechResult]   clips: 16 kHz mono float `[T]` each
    VoiceActivityDetector(cfg).probabilities(clips) -> list[np.ndarray]   `[ceil(T / 512)]` each
    VoiceActivityDetector(cfg).stream_probabilities(clip)   upstream's window-by-window loop (reference)
    model_path() / model_info()   where the model file is, its package version and sha256
"""
from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # samples per model step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each window
PACKAGE = "silero-vad"
INSTALL_HINT = ("pip install --no-deps 'silero-vad>=5' (no extras: they pull torchaudio/torchcodec, "
                "which this project does not use)")


class VadUnavailable(RuntimeError):
    """The silero-vad package (which holds the model file) is not installed."""


@dataclass
class VadConfig:
    """Detector settings; the defaults are upstream's `get_speech_timestamps` defaults.

    threshold       a window is speech at or above this probability
    neg_threshold   a speech segment ends below this (null: threshold - 0.15, as upstream)
    min_speech_s    shorter segments are dropped
    min_silence_s   a segment ends only after this much silence
    speech_pad_s    segments are widened by this on each side (halving shorter gaps)
    device          cpu | cuda | cuda:N | auto
    max_batch_s     audio per model call; bounds memory (~0.3 MB per second of audio on the encoder)
    """

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_s: float = 0.25
    min_silence_s: float = 0.1
    speech_pad_s: float = 0.03
    device: str = "cpu"
    max_batch_s: float = 600.0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "VadConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"vad: unknown key(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        from audiogen.io.arguments import check_numbers, float_in, nonnegative_float, positive_float

        check_numbers(self, {"threshold": float_in(0, 1, lo_open=True, hi_open=True),  # type and range, naming the param
                             "neg_threshold": float_in(0, 1, lo_open=True).or_none, "min_speech_s": nonnegative_float,
                             "min_silence_s": nonnegative_float, "speech_pad_s": nonnegative_float,
                             "max_batch_s": positive_float}, "prepare.vad")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"vad threshold must be in (0, 1), got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 < self.neg_threshold <= self.threshold:
            raise ValueError(f"vad neg_threshold must be in (0, threshold], got {self.neg_threshold}")
        if min(self.min_speech_s, self.min_silence_s, self.speech_pad_s) < 0 or self.max_batch_s <= 0:
            raise ValueError("vad durations must be >= 0 and max_batch_s > 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SpeechResult:
    """Speech in one clip: segments in seconds (padded as upstream), their total, the clip length."""

    duration_s: float
    segments: list[tuple[float, float]] = field(default_factory=list)

    @property
    def speech_s(self) -> float:
        return round(sum(b - a for a, b in self.segments), 3)

    @property
    def fraction(self) -> float:
        return round(self.speech_s / self.duration_s, 4) if self.duration_s > 0 else 0.0


def model_path() -> Path:
    """The TorchScript model inside the installed silero-vad package, found without importing it."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadUnavailable(f"the speech detector needs the PyPI package {PACKAGE}, whose wheel holds the "
                             f"pretrained model; install it with: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.jit"
    if not path.is_file():
        raise VadUnavailable(f"{path} is missing: reinstall {PACKAGE} ({INSTALL_HINT})")
    return path


def model_info() -> dict[str, str]:
    """Package version and model sha256 (recorded with outputs that depend on the detector)."""
    from importlib.metadata import PackageNotFoundError, version

    path = model_path()
    try:
        ver = version(PACKAGE)
    except PackageNotFoundError:
        ver = "?"
    return {"silero_vad": ver, "model_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}


_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class _Parts:
    """The JIT model split into its three stages (see the module docstring)."""

    def __init__(self, path: Path, device: str) -> None:
        import torch

        jit = torch.jit.load(str(path), map_location=device).eval()
        net = jit._model  # the 16 kHz network (`_model_8k` is the 8 kHz one)
        if int(net.context_size_samples) != CONTEXT:
            raise VadUnavailable(f"{path}: unexpected model layout (context {net.context_size_samples})")
        self.jit = jit
        self.stft, self.encoder = net.stft, net.encoder
        rnn = dict(net.decoder.rnn.named_parameters())
        self.lstm = torch.nn.LSTM(128, 128, batch_first=True).to(device).eval()
        with torch.no_grad():
            for ours, theirs in (("weight_ih_l0", "weight_ih"), ("weight_hh_l0", "weight_hh"),
                                 ("bias_ih_l0", "bias_ih"), ("bias_hh_l0", "bias_hh")):
                getattr(self.lstm, ours).copy_(rnn[theirs])
        head = dict(net.decoder.decoder.named_parameters())
        self.head_w = head["2.weight"][:, :, 0].T.contiguous()  # [128, 1]
        self.head_b = head["2.bias"]  # [1]


def _load(device: str) -> _Parts:
    path = model_path()
    key = (str(path), device)
    with _LOCK:  # one copy per process and device (Ray workers reuse it across shards)
        if key not in _MODELS:
            _MODELS[key] = _Parts(path, device)
        return _MODELS[key]


def _windows(clip: np.ndarray) -> np.ndarray:
    """`[T]` → `[ceil(T / 512), 576]`: each window with the previous one's last 64 samples (zeros first)."""
    n = max(1, -(-len(clip) // WINDOW))
    frames = np.zeros((n, WINDOW), np.float32)
    frames.reshape(-1)[: len(clip)] = clip
    ctx = np.zeros((n, CONTEXT), np.float32)
    ctx[1:] = frames[:-1, -CONTEXT:]
    return np.concatenate([ctx, frames], axis=1)


class VoiceActivityDetector:
    """Silero VAD over many 16 kHz clips at once (see the module docstring)."""

    def __init__(self, cfg: VadConfig | None = None) -> None:
        self.cfg = cfg or VadConfig()
        self.cfg.validate()
        self.device = _resolve_device(self.cfg.device)
        self.parts = _load(self.device)

    def _batch_probabilities(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        p = self.parts
        wins = [_windows(np.asarray(c, np.float32)) for c in clips]
        lengths = [len(w) for w in wins]
        with torch.inference_mode():
            x = torch.from_numpy(np.concatenate(wins)).to(self.device)  # [N, 576]
            feats = p.encoder(p.stft(x)).squeeze(-1)  # [N, 128]
            seq = torch.zeros(len(clips), max(lengths), 128, device=self.device)  # [B, T, 128]
            for i, part in enumerate(torch.split(feats, lengths)):
                seq[i, : len(part)] = part
            h, _ = p.lstm(seq)  # [B, T, 128]
            prob = torch.sigmoid(torch.relu(h) @ p.head_w + p.head_b).squeeze(-1)  # [B, T]
            prob = prob.float().cpu().numpy()
        return [prob[i, :n].copy() for i, n in enumerate(lengths)]

    def probabilities(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-window speech probabilities, `[ceil(T / 512)]` per clip, batched `max_batch_s` at a time."""
        out: list[np.ndarray] = []
        budget = int(self.cfg.max_batch_s * SAMPLE_RATE)
        batch: list[np.ndarray] = []
        size = 0
        for clip in clips:
            if batch and size + len(clip) > budget:
                out += self._batch_probabilities(batch)
                batch, size = [], 0
            batch.append(clip)
            size += len(clip)
        if batch:
            out += self._batch_probabilities(batch)
        return out

    def stream_probabilities(self, clip: np.ndarray) -> np.ndarray:
        """Upstream's way: the JIT model called window by window with its own state (reference and
        benchmark baseline; same numbers as `probabilities`, many times slower)."""
        import torch

        jit = self.parts.jit
        jit.reset_states()
        x = _windows(np.asarray(clip, np.float32))[:, CONTEXT:]
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device)
            out = [jit(t[i : i + 1], SAMPLE_RATE) for i in range(len(t))]
        jit.reset_states()
        return torch.cat(out).reshape(-1).float().cpu().numpy()

    def detect(self, clips: Sequence[np.ndarray]) -> list[SpeechResult]:
        """Speech segments and seconds per clip (16 kHz mono float `[T]` each)."""
        probs = self.probabilities(clips)
        return [SpeechResult(round(len(c) / SAMPLE_RATE, 6), segments(p, len(c), self.cfg)) for c, p in zip(clips, probs)]


def segments(prob: np.ndarray, num_samples: int, cfg: VadConfig) -> list[tuple[float, float]]:
    """Window probabilities → speech segments in seconds, with upstream's state machine
    (`get_speech_timestamps`, without its max-segment split, which does not change the total)."""
    sr = SAMPLE_RATE
    thr = cfg.threshold
    neg = cfg.neg_threshold if cfg.neg_threshold is not None else max(thr - 0.15, 0.01)
    min_speech, min_silence = sr * cfg.min_speech_s, sr * cfg.min_silence_s
    pad = int(sr * cfg.speech_pad_s)
    found: list[list[int]] = []
    triggered, start, temp_end = False, 0, 0
    for i, p in enumerate(np.asarray(prob, np.float64).tolist()):
        cur = WINDOW * i
        if p >= thr and temp_end:
            temp_end = 0
        if p >= thr and not triggered:
            triggered, start = True, cur
            continue
        if p < neg and triggered:
            if not temp_end:
                temp_end = cur
            if cur - temp_end < min_silence:
                continue
            if temp_end - start > min_speech:
                found.append([start, temp_end])
            triggered, temp_end = False, 0
    if triggered and num_samples - start > min_speech:
        found.append([start, num_samples])
    for i, seg in enumerate(found):  # padding, as upstream: gaps under 2 × pad are split in half
        if i == 0:
            seg[0] = max(0, seg[0] - pad)
        if i < len(found) - 1:
            gap = found[i + 1][0] - seg[1]
            if gap < 2 * pad:
                seg[1] += gap // 2
                found[i + 1][0] = max(0, found[i + 1][0] - gap // 2)
            else:
                seg[1] = min(num_samples, seg[1] + pad)
                found[i + 1][0] = max(0, found[i + 1][0] - pad)
        else:
            seg[1] = min(num_samples, seg[1] + pad)
    return [(round(a / sr, 3), round(b / sr, 3)) for a, b in found]
