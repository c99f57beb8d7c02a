"""The detector's backbones: each maps crops ``[N, T, h, w, 3]`` uint8 to P(synthetic) per crop.

- ``forensic``: :mod:`detectors.features` + a scikit-learn classifier chosen on the validation split
  (logistic regression or a one-hidden-layer MLP), exported to plain arrays (:class:`ArrayHead`):
  no pickle, the saved model is safetensors + JSON.
- ``cnn3d``: a small 3-D CNN whose first layer is a strided 4×4 convolution over the raw pixels
  (stride 2 in space: phase-aware, like the upsampling grids it has to see), trained with Adam on CPU;
  the checkpoint with the best validation AUC is kept.
- ``probe``: a frozen image encoder of :mod:`eval` (default: the shipped synthvid-tiny-clip; any
  open_clip model from local weights) per frame → mean embedding + second-order temporal statistics
  (spread of the first differences, size of the second differences) → the same array head.

A backbone has ``fit(train_crops, train_labels, val_crops, val_labels, seed)``, ``score_crops``,
``arrays()``/``config()`` for saving and ``from_saved(arrays, config)``.
"""

from __future__ import annotations

import abc
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from detectors.errors import DetectorError, ModelFileError
from detectors.metrics import roc_auc

log = logging.getLogger(__name__)

FEATURE_CHUNK = 64  # crops per feature batch: big enough to vectorise, small enough for two threads


# ------------------------------------------------------------------------------------------ heads


@dataclass
class ArrayHead:
    """Standardisation + a logistic regression or a ReLU MLP, as arrays: ``sigmoid(f(standardise(x)))``."""

    kind: str
    mean: np.ndarray
    scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def proba(self, x: np.ndarray) -> np.ndarray:
        h = (np.asarray(x, np.float64) - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -60, 60)))

    def arrays(self, prefix: str = "head") -> dict[str, np.ndarray]:
        out = {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{prefix}.w{i}"], out[f"{prefix}.b{i}"] = w, b
        return {k: np.ascontiguousarray(v, np.float64) for k, v in out.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], kind: str, prefix: str = "head") -> ArrayHead:
        try:
            layers = sum(1 for k in arrays if k.startswith(f"{prefix}.w"))
            return cls(
                kind,
                arrays[f"{prefix}.mean"],
                arrays[f"{prefix}.scale"],
                [arrays[f"{prefix}.w{i}"] for i in range(layers)],
                [arrays[f"{prefix}.b{i}"] for i in range(layers)],
            )
        except KeyError as exc:
            raise ModelFileError(None, f"the weights lack array {exc.args[0]}") from None

    @property
    def num_parameters(self) -> int:
        return int(sum(w.size + b.size for w, b in zip(self.weights, self.biases)))


HEAD_CANDIDATES = (
    ("logistic", {"C": 0.05}),
    ("logistic", {"C": 0.5}),
    ("logistic", {"C": 5.0}),
    ("mlp", {"alpha": 1e-3}),
    ("mlp", {"alpha": 1e-1}),
)


def fit_head(x_train, y_train, x_val, y_val, *, seed: int = 0, candidates=HEAD_CANDIDATES) -> tuple[ArrayHead, dict]:
    """Fit every candidate on train; keep the best on validation by AUC, then (AUC ties are common on
    easy data) by the true-positive rate at 1 % false positives, then by log-loss; earlier = simpler
    wins complete ties."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from detectors.metrics import tpr_at_fpr

    scaler = StandardScaler().fit(x_train)
    scale = np.where(scaler.scale_ > 1e-9, scaler.scale_, 1.0)
    xs = (x_train - scaler.mean_) / scale
    best, tried = None, []
    for kind, params in candidates:
        if kind == "logistic":
            model = LogisticRegression(C=params["C"], class_weight="balanced", max_iter=2000).fit(xs, y_train)
            head = ArrayHead(kind, scaler.mean_, scale, [model.coef_.T], [model.intercept_])
        else:
            model = MLPClassifier(hidden_layer_sizes=(64,), alpha=params["alpha"], max_iter=600, early_stopping=False, random_state=seed).fit(
                xs, y_train
            )
            head = ArrayHead(kind, scaler.mean_, scale, list(model.coefs_), list(model.intercepts_))
        if len(x_val):
            p = np.clip(head.proba(x_val), 1e-7, 1 - 1e-7)
            y = np.asarray(y_val)
            key = (round(roc_auc(y, p), 6), round(tpr_at_fpr(y, p, 0.01), 6), -float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))))
        else:
            key = (0.0, 0.0, 0.0)
        tried.append({"head": kind, **params, "val_auc": key[0], "val_tpr_at_1pct_fpr": key[1], "val_log_loss": round(-key[2], 5)})
        if best is None or key > best[1]:
            best = (head, key, {"head": kind, **params})
    return best[0], {"chosen": best[2], "candidates": tried}


# -------------------------------------------------------------------------------------- forensic


class _FeatureHeadBackbone(abc.ABC):
    """A backbone that is ``features(crops)`` followed by an :class:`ArrayHead`."""

    head: ArrayHead | None

    @abc.abstractmethod
    def features(self, crops: np.ndarray) -> np.ndarray:
        """Features ``[N, F]`` of ``N`` crops ``[N, T, H, W, 3]``."""

    def fit(self, train, y_train, val, y_val, *, seed: int = 0, **_) -> dict:
        return self.fit_features(self.features(train), y_train, self.features(val), y_val, seed=seed)

    def fit_features(self, x_train, y_train, x_val, y_val, *, seed: int = 0) -> dict:
        """Fit from features already computed (benchmarks reuse them across protocols)."""
        self.head, info = fit_head(x_train, y_train, x_val, y_val, seed=seed)
        return info

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        return self.head.proba(self.features(crops))

    def arrays(self) -> dict[str, np.ndarray]:
        return self.head.arrays()

    @property
    def num_parameters(self) -> int:
        return self.head.num_parameters if self.head else 0


class ForensicBackbone(_FeatureHeadBackbone):
    """Forensic features (:mod:`detectors.features`, feature set ``v1`` or ``v2``) and an :class:`ArrayHead`."""

    name = "forensic"

    def __init__(self, head: ArrayHead | None = None, threads: int = 2, feature_set: str = "v1"):
        from detectors.features import FEATURE_SETS

        if feature_set not in FEATURE_SETS:
            raise DetectorError(None, f"unknown feature set {feature_set!r}: choose {', '.join(FEATURE_SETS)}")
        self.head = head
        self.threads = threads
        self.feature_set = feature_set

    def features(self, crops: np.ndarray) -> np.ndarray:
        from detectors.features import clip_features

        extract = partial(clip_features, feature_set=self.feature_set)
        chunks = [crops[i : i + FEATURE_CHUNK] for i in range(0, len(crops), FEATURE_CHUNK)]
        if len(chunks) <= 1 or self.threads <= 1:
            return np.concatenate([extract(c) for c in chunks]) if chunks else np.zeros((0, self.num_features))
        with ThreadPoolExecutor(self.threads) as pool:  # numpy and OpenCV release the GIL
            return np.concatenate(list(pool.map(extract, chunks)))

    @property
    def num_features(self) -> int:
        from detectors.features import feature_names

        return len(feature_names(self.feature_set))

    def config(self) -> dict:
        from detectors.features import feature_names

        return {"head": self.head.kind, "feature_set": self.feature_set, "features": list(feature_names(self.feature_set))}

    @classmethod
    def from_saved(cls, arrays: dict, config: dict) -> ForensicBackbone:
        from detectors.features import FEATURE_SETS

        feature_set = config.get("feature_set", "v1")  # models saved before feature sets existed are v1
        if list(FEATURE_SETS.get(feature_set, ())) != config.get("features"):
            raise ModelFileError(None, "the model was fitted on another feature set than this version of detectors computes; retrain it")
        return cls(ArrayHead.from_arrays(arrays, config.get("head", "logistic")), feature_set=feature_set)


# ------------------------------------------------------------------------------------------ cnn3d


def _build_cnn(channels: tuple[int, int, int]):
    import torch
    from torch import nn

    c1, c2, c3 = channels

    class Cnn3d(nn.Module):
        """Strided 4×4 first layer (phase-aware) on the high-pass residual of the pixels (the trace lives
        there, the content mostly not), two strided 3-D blocks, mean+max pooling. GroupNorm, not
        BatchNorm: small CPU batches make batch statistics noisy."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv3d(3, c1, kernel_size=(3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1))
            self.body = nn.Sequential(
                nn.GroupNorm(4, c1),
                nn.ReLU(inplace=True),
                nn.Conv3d(c1, c2, 3, stride=(2, 2, 2), padding=1),
                nn.GroupNorm(4, c2),
                nn.ReLU(inplace=True),
                nn.Conv3d(c2, c3, 3, stride=(2, 2, 2), padding=1),
                nn.GroupNorm(4, c3),
                nn.ReLU(inplace=True),
            )
            self.fc = nn.Linear(2 * c3, 1)

        def forward(self, x):  # x: float [N, 3, T, H, W] in [-1, 1]
            n, c, t, h, w = x.shape
            flat = x.transpose(1, 2).reshape(n * t, c, h, w)
            local = nn.functional.avg_pool2d(nn.functional.pad(flat, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
            residual = (flat - local).reshape(n, t, c, h, w).transpose(1, 2) * 8.0
            h = self.body(self.stem(residual))
            pooled = torch.cat([h.mean(dim=(2, 3, 4)), h.amax(dim=(2, 3, 4))], dim=1)
            return self.fc(pooled)[:, 0]

    return Cnn3d()


def _to_tensor(crops: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)


class CnnBackbone:
    name = "cnn3d"

    def __init__(self, channels=(16, 32, 64), epochs: int = 12, batch_size: int = 32, lr: float = 2e-3, state: dict | None = None):
        self.channels = tuple(int(c) for c in channels)
        self.epochs, self.batch_size, self.lr = int(epochs), int(batch_size), float(lr)
        self.model = _build_cnn(self.channels)
        if state is not None:
            import torch

            try:
                self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
            except RuntimeError as exc:
                raise ModelFileError(None, f"the cnn3d weights do not fit its config ({str(exc).splitlines()[0]})") from None
        self.model.eval()

    def fit(self, train, y_train, val, y_val, *, seed: int = 0, progress=None, **_) -> dict:
        import torch

        # The initial weights come from the seed too: built in __init__ they would take whatever state the
        # process's global generator had, and a fit would depend on what ran before it.
        torch.manual_seed(seed)
        self.model = _build_cnn(self.channels)
        rng = np.random.default_rng(seed)
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-4)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        y = torch.from_numpy(np.asarray(y_train, np.float32))
        best = (-1.0, None, 0)
        history = []
        for epoch in range(self.epochs):
            self.model.train()
            order = rng.permutation(len(train))
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = train[idx]
                flip = rng.random(len(idx)) < 0.5  # horizontal flips: content-free augmentation
                batch = np.where(flip[:, None, None, None, None], batch[:, :, :, ::-1], batch)
                logits = self.model(_to_tensor(batch))
                loss = loss_fn(logits, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            auc = roc_auc(y_val, self.score_crops(val)) if len(val) else float("nan")
            history.append({"epoch": epoch + 1, "loss": round(total / len(order), 5), "val_auc": round(auc, 5)})
            log.info("cnn3d epoch %d loss %.4f val AUC %.4f", epoch + 1, total / len(order), auc)
            if not auc <= best[0]:  # NaN (no val) keeps the latest
                best = (auc, {k: v.detach().clone() for k, v in self.model.state_dict().items()}, epoch + 1)
            if progress is not None:
                progress()
        if best[1] is not None:
            self.model.load_state_dict(best[1])
        self.model.eval()
        return {"chosen": {"epoch": best[2], "val_auc": best[0]}, "history": history}

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), 64):
                out.append(torch.sigmoid(self.model(_to_tensor(crops[start : start + 64]))).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}

    def config(self) -> dict:
        return {"channels": list(self.channels), "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}

    @classmethod
    def from_saved(cls, arrays: dict, config: dict) -> CnnBackbone:
        return cls(
            channels=config.get("channels", (16, 32, 64)),
            epochs=config.get("epochs", 12),
            batch_size=config.get("batch_size", 32),
            lr=config.get("lr", 2e-3),
            state=arrays,
        )

    @property
    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))


# ------------------------------------------------------------------------------------------ probe


class ProbeBackbone(_FeatureHeadBackbone):
    """A linear/MLP probe over a frozen :mod:`eval` image encoder (mean + temporal statistics)."""

    name = "probe"

    def __init__(self, encoder: str = "synthvid-tiny-clip", pretrained: str | None = None, head: ArrayHead | None = None):
        self.encoder_name, self.pretrained = encoder, pretrained
        self.head = head
        self._encoder = None

    def encoder(self):
        if self._encoder is None:
            from eval.encoders import load_clip
            from eval.errors import EvalError

            try:
                self._encoder = load_clip(self.encoder_name, self.pretrained)
            except EvalError as exc:
                raise ModelFileError(exc.path, f"cannot load the probe's encoder ({exc.reason})") from None
        return self._encoder

    def features(self, crops: np.ndarray) -> np.ndarray:
        encoder = self.encoder()
        n, t = crops.shape[:2]
        emb = encoder.encode_frames(crops.reshape(n * t, *crops.shape[2:])).numpy().reshape(n, t, -1).astype(np.float64)
        d1 = np.diff(emb, axis=1)
        d2 = np.diff(emb, n=2, axis=1)
        second_order = np.stack(
            [np.linalg.norm(d1, axis=2).mean(axis=1), np.linalg.norm(d2, axis=2).mean(axis=1), np.linalg.norm(d2, axis=2).std(axis=1)], axis=1
        )
        return np.concatenate([emb.mean(axis=1), d1.std(axis=1), second_order], axis=1)

    def config(self) -> dict:
        return {"encoder": self.encoder_name, "pretrained": self.pretrained, "head": self.head.kind}

    @classmethod
    def from_saved(cls, arrays: dict, config: dict) -> ProbeBackbone:
        return cls(
            config.get("encoder", "synthvid-tiny-clip"), config.get("pretrained"), ArrayHead.from_arrays(arrays, config.get("head", "logistic"))
        )


BACKBONES = {"forensic": ForensicBackbone, "cnn3d": CnnBackbone, "probe": ProbeBackbone}


def make_backbone(name: str, **options):
    if name not in BACKBONES:
        raise DetectorError(None, f"unknown backbone {name!r}: choose {', '.join(BACKBONES)}")
    return BACKBONES[name](**options)
