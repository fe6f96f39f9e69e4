"""VGGish (Hershey et al. 2017), the embedding behind the paper's FAD, in torch with torchvggish's
state-dict layout, and its log-mel front end in numpy.

Front end (`waveform_to_examples`, as `vggish_input.py`/`mel_features.py`): 16 kHz mono; frames of
25 ms (400 samples) every 10 ms, periodic Hann window, |rfft| with 512 points, 64 HTK-mel bands over
125–7500 Hz (DC bin zeroed), log(mel + 0.01); non-overlapping examples of 96 frames (0.96 s) →
`[num_examples, 96, 64]`. A clip shorter than one example is zero-padded to one (VGGish itself would
give no example, and an empty clip cannot enter FAD).

Network (torchvggish `VGG`): `features` = conv3x3 64 → pool → 128 → pool → 256, 256 → pool →
512, 512 → pool (ReLU after each conv; Sequential indices 0, 3, 6, 8, 11, 13), then
`embeddings` = fc 12288→4096 → ReLU → 4096→4096 → ReLU → 4096→128 (indices 0, 2, 4). Google's
FAD uses the 128-d output *before* torchvggish's trailing ReLU and without PCA (`final_relu=False`,
`postprocess=False`, the defaults). The optional postprocessor applies the released PCA
(`pca_eigen_vectors [128, 128]`, `pca_means [128, 1]`) and, with `quantize`, the 8-bit quantisation
of the AudioSet embeddings release (clip to [−2, 2], scale to 0..255, round).

Weights are never downloaded: `load_vggish(path)` takes torchvggish's `vggish-10086976.pth`
(or a `.safetensors` with the same keys), or a directory holding it and optionally the PCA params
(`vggish_pca_params*.pth|.npz|.safetensors`). Widths are read from the tensors' shapes, so a
narrow random checkpoint (tests) loads the same way as the real one.

API:
    waveform_to_examples(audio [T], sr) -> [num_examples, 96, 64] float32
    VGGish(VGGishConfig())(examples [N, 96, 64]) -> [N, 128]     torchvggish_state_dict(model)
    load_vggish(path, final_relu=False, postprocess=False, quantize=False) -> VGGish (eval mode)
    VGGishBackend(model).embed(audios, sr) -> [sum of examples, 128]; .embed_clips -> list of [n_i, 128]
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
NUM_BANDS = 64
NUM_FRAMES = 96                 # frames per example (0.96 s)
STFT_WINDOW = 400               # 25 ms
STFT_HOP = 160                  # 10 ms
MEL_MIN_HZ, MEL_MAX_HZ = 125.0, 7500.0
LOG_OFFSET = 0.01
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
PCA_SUFFIXES = (".pth", ".pt", ".safetensors", ".npz")


# --- front end (numpy) --------------------------------------------------------------------------
def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_matrix(num_bands: int = NUM_BANDS, num_bins: int = 257, sample_rate: int = SAMPLE_RATE,
               lower_hz: float = MEL_MIN_HZ, upper_hz: float = MEL_MAX_HZ) -> np.ndarray:
    """`[num_bins, num_bands]` triangular HTK-mel weights (unnormalised), DC bin zeroed."""
    bins_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2, num_bins))
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_bands + 2)
    lower = (bins_mel[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    upper = (edges[None, 2:] - bins_mel[:, None]) / (edges[2:] - edges[1:-1])
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights[0, :] = 0.0
    return weights


def _frame(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """`[T, ...]` → `[1 + (T − length) // hop, length, ...]`, no padding (a copy)."""
    n = 1 + (x.shape[0] - length) // hop
    idx = np.arange(length)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def log_mel(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono `[T]` (T ≥ 400) → `[frames, 64]` float64 log-mel."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi / STFT_WINDOW * np.arange(STFT_WINDOW))  # periodic Hann
    frames = _frame(np.asarray(audio, dtype=np.float64), STFT_WINDOW, STFT_HOP) * window
    fft_len = 2 ** int(math.ceil(math.log2(STFT_WINDOW)))
    spec = np.abs(np.fft.rfft(frames, fft_len))
    return np.log(spec @ mel_matrix(num_bins=fft_len // 2 + 1) + LOG_OFFSET)


def waveform_to_examples(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono `[T]` at any rate → `[num_examples, 96, 64]` float32 (resampled to 16 kHz with soxr)."""
    from audiogen.io.audio import resample

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio [T], got shape {x.shape}")
    x = resample(x, int(sample_rate), SAMPLE_RATE)
    need = STFT_WINDOW + STFT_HOP * (NUM_FRAMES - 1)  # samples for one example
    if x.shape[0] < need:
        x = np.pad(x, (0, need - x.shape[0]))
    return _frame(log_mel(x), NUM_FRAMES, NUM_FRAMES).astype(np.float32)


# --- network ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VGGishConfig:
    channels: tuple[int, int, int, int] = (64, 128, 256, 512)
    fc: tuple[int, int] = (4096, 4096)
    embedding: int = 128
    final_relu: bool = False    # torchvggish keeps a ReLU on the output; TF VGGish and FAD do not
    postprocess: bool = False   # apply the PCA (needs pca params)
    quantize: bool = False      # 8-bit quantisation after the PCA


class VGGish(nn.Module):
    """torchvggish's `VGG` plus its postprocessor's PCA buffers (`pproc.*`)."""

    def __init__(self, cfg: VGGishConfig | None = None):
        super().__init__()
        self.config = cfg = cfg or VGGishConfig()
        c1, c2, c3, c4 = cfg.channels
        layers: list[nn.Module] = []
        cin = 1
        for v in (c1, "M", c2, "M", c3, c3, "M", c4, c4, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        f1, f2 = cfg.fc
        self.embeddings = nn.Sequential(nn.Linear(c4 * 4 * 6, f1), nn.ReLU(True), nn.Linear(f1, f2),
                                        nn.ReLU(True), nn.Linear(f2, cfg.embedding))
        # PCA params as buffers under torchvggish's `pproc` names (identity until loaded).
        self.pproc = nn.Module()
        self.pproc.register_buffer("pca_eigen_vectors", torch.eye(cfg.embedding))
        self.pproc.register_buffer("pca_means", torch.zeros(cfg.embedding, 1))

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """`[N, 96, 64]` or `[N, 1, 96, 64]` log-mel → `[N, embedding]`."""
        x = examples.unsqueeze(1) if examples.dim() == 3 else examples
        x = self.features(x)
        # torchvggish flattens in (time, freq, channel) order, as the TF checkpoint it came from.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        x = self.embeddings(x)
        if self.config.final_relu:
            x = torch.relu(x)
        if self.config.postprocess:
            x = (self.pproc.pca_eigen_vectors @ (x.T - self.pproc.pca_means)).T
            if self.config.quantize:
                x = torch.clamp(x, QUANTIZE_MIN, QUANTIZE_MAX)
                x = torch.round((x - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))
        return x


def torchvggish_state_dict(model) -> dict[str, Any]:
    """The model's weights under torchvggish's key names (`features.*`, `embeddings.*`)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("pproc.")}


# --- loading --------------------------------------------------------------------------------------
def _load_tensors(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: torch.as_tensor(z[k]) for k in z.files}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        # torchvggish's PCA file holds numpy arrays: allow exactly numpy's array reconstruction.
        core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
        safe = [np.ndarray, np.dtype, core.multiarray._reconstruct, type(np.dtype(np.float32)),
                type(np.dtype(np.float64))]
        try:
            with torch.serialization.safe_globals(safe):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path}: cannot read as a weights-only torch file ({err}); convert it to "
                             f".safetensors or .npz") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {k: torch.as_tensor(v) for k, v in obj.items()}


def _find_files(path: Path) -> tuple[Path, Path | None]:
    if path.is_file():
        pca = sorted(p for p in path.parent.iterdir() if "pca" in p.name and p.suffix in PCA_SUFFIXES and p != path)
        return path, (pca[0] if pca else None)
    if path.is_dir():
        files = sorted(path.iterdir())
        weights = [p for p in files if p.suffix in WEIGHT_SUFFIXES and "pca" not in p.name]
        pca = [p for p in files if p.suffix in PCA_SUFFIXES and "pca" in p.name]
        if len(weights) != 1:
            raise FileNotFoundError(f"{path}: expected one VGGish weights file ({'/'.join(WEIGHT_SUFFIXES)}, "
                                    f"e.g. torchvggish's vggish-10086976.pth), found {[p.name for p in weights]}")
        return weights[0], (pca[0] if pca else None)
    raise FileNotFoundError(f"{path}: no such VGGish weights file or directory (VGGish is never downloaded: "
                            f"put torchvggish's vggish-10086976.pth there and pass vggish:/that/path)")


def _pca_entries(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        name = key.split(".")[-1]
        if name in ("pca_eigen_vectors", "pca_matrix"):
            out["pproc.pca_eigen_vectors"] = value.float()
        elif name == "pca_means":
            out["pproc.pca_means"] = value.float().reshape(-1, 1)
    return out


def load_vggish(path: str | Path, final_relu: bool = False, postprocess: bool = False, quantize: bool = False):
    """A VGGish from torchvggish weights (file or directory; module docstring); eval mode."""
    path = Path(path)
    weights_path, pca_path = _find_files(path)
    state = _load_tensors(weights_path)
    pca = _pca_entries(state)
    if pca_path is not None:
        pca.update(_pca_entries(_load_tensors(pca_path)))
    try:
        channels = tuple(int(state[f"features.{i}.weight"].shape[0]) for i in (0, 3, 6, 11))
        fc = (int(state["embeddings.0.weight"].shape[0]), int(state["embeddings.2.weight"].shape[0]))
        embedding = int(state["embeddings.4.weight"].shape[0])
    except KeyError as err:
        raise ValueError(f"{weights_path}: not a torchvggish state dict (missing {err})") from None
    if postprocess and len(pca) != 2:
        raise ValueError(f"{path}: postprocess needs the PCA params (pca_eigen_vectors, pca_means): put "
                         f"vggish_pca_params-*.pth (or .npz) beside the weights")
    cfg = VGGishConfig(channels, fc, embedding, final_relu, postprocess, quantize)  # type: ignore[arg-type]
    model = VGGish(cfg)
    net = {k: v for k, v in state.items() if k.startswith(("features.", "embeddings."))}
    model.load_state_dict({**model.state_dict(), **net, **pca}, strict=True)
    return model.eval()


class VGGishBackend:
    """FAD embeddings: one 128-d row per 0.96 s example of every clip (the paper's FAD sample set)."""

    roles = frozenset({"fad"})
    sample_rate = SAMPLE_RATE

    def __init__(self, model, name: str = "vggish", batch_size: int = 64):
        self.model, self.name, self.batch_size = model, name, batch_size

    def embed_clips(self, audios: Sequence[np.ndarray], sr: int) -> list[np.ndarray]:
        """One `[num_examples_i, 128]` float32 array per clip."""
        out = []
        with torch.no_grad():
            for audio in audios:
                ex = torch.from_numpy(waveform_to_examples(audio, sr))
                rows = [self.model(ex[i: i + self.batch_size]) for i in range(0, ex.shape[0], self.batch_size)]
                out.append(torch.cat(rows).numpy().astype(np.float32))
        return out

    def embed(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[Σ num_examples_i, 128]`: every example of every clip."""
        clips = self.embed_clips(audios, sr)
        if not clips:
            raise ValueError("no audio to embed")
        return np.concatenate(clips, axis=0)
