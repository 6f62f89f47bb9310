"""What start-up fitted, kept between runs, so a restart with the same data does not fit again.

Why: the spam model's fusion is learned from five cross-validated folds and the two regressions
by Newton's method over thousands of rows: about ten seconds of CPU on a quiet two-core machine,
which made every start wait its full training timeout. The results are tiny (a few hundred
floats), so they are stored (the app hands in a `FitStore`; domain code never sees the database)
under a digest of everything a fit read. A changed sample, lesson, hyper-parameter, embedding
model or line of fitting code gives another digest, so it is fitted once more, never reused stale.

Stored exactly as fitted (float32 coefficients stay float32, the rest float64): a loaded fit
decides bit for bit as the fresh one would.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from bot.moderation import semantic_spam, spam
from bot.moderation.semantic_spam import Fusion, LogisticModel

logger = logging.getLogger(__name__)

# Bump when what is stored changes shape (another field, another dtype); changes of the fitting
# code need no bump, the source digest below already gives them new keys.
FIT_FORMAT = 1

T = TypeVar("T")


class FitStore(Protocol):
    """Stored fits by kind ("spam:fusion", ...) and digest of what they were fitted from."""

    async def load(self, kind: str, digest: str) -> bytes | None: ...

    async def store(self, kind: str, digest: str, data: bytes) -> None: ...


@functools.cache
def _code_digest() -> bytes:
    """The source of every module whose code a fit runs: `semantic_spam` (regressions,
    centring, neighbours), `spam` (Bayes and the lexical signals the fusion weighs) and
    `understanding` (the folds). A human-bumped constant alone would be forgotten one day."""
    from bot.moderation import understanding  # imports this module: only at first use

    digest = hashlib.blake2b(digest_size=16)
    for module in (semantic_spam, spam, understanding):
        source = module.__file__
        digest.update(Path(source).read_bytes() if source else module.__name__.encode())
    return digest.digest()


def _feed(digest: hashlib.blake2b, part: object) -> None:
    """Unambiguous bytes for a part: arrays by dtype, shape and contents (their repr elides),
    containers item by item with their lengths, so no two different inputs collide by
    concatenation."""
    if isinstance(part, np.ndarray):
        array = np.ascontiguousarray(part)
        digest.update(f"a{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(part, list | tuple):
        digest.update(f"l{len(part)}".encode())
        for item in part:
            _feed(digest, item)
    elif isinstance(part, Mapping):
        digest.update(f"d{len(part)}".encode())
        for key in sorted(part):
            _feed(digest, key)
            _feed(digest, part[key])
    elif isinstance(part, str):
        encoded = part.encode()
        digest.update(f"s{len(encoded)}:".encode())
        digest.update(encoded)
    else:
        digest.update(f"r{part!r}".encode())


def fit_digest(*parts: object) -> str:
    """The key of a fit: its inputs plus the storage format, the fitting code and numpy's
    version (another BLAS or numpy may round the last bit differently)."""
    digest = hashlib.blake2b(digest_size=20)
    for part in (FIT_FORMAT, _code_digest(), np.__version__, *parts):
        _feed(digest, part)
    return digest.hexdigest()


# Stored as .npz: a zip whose every array carries a CRC, so a damaged row fails to load instead
# of deciding with flipped bits; read without pickles.


def _from_bytes(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def _finite(array: np.ndarray, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    if array.dtype != dtype or array.shape != shape or not np.isfinite(array).all():
        raise ValueError(f"expected finite {np.dtype(dtype).name}{shape}, got {array.dtype}")
    return array


def encode_regression(model: LogisticModel) -> bytes:
    assert model.coef is not None
    buffer = io.BytesIO()
    np.savez(buffer, coef=model.coef, intercept=np.array(model.intercept, dtype=np.float64))
    return buffer.getvalue()


def decode_regression(data: bytes, l2: float, dim: int) -> LogisticModel:
    arrays = _from_bytes(data)
    coef = _finite(arrays["coef"], np.float32, (dim,))
    intercept = _finite(arrays["intercept"], np.float64, ())
    return LogisticModel(l2=l2, coef=coef, intercept=float(intercept))


def encode_fusion(fusion: Fusion) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        names=np.array(fusion.names),
        coef=np.asarray(fusion.coef, dtype=np.float64),
        intercept=np.array(fusion.intercept, dtype=np.float64),
    )
    return buffer.getvalue()


def decode_fusion(data: bytes, names: tuple[str, ...]) -> Fusion:
    """Thresholds are not stored: they are set by hand in `Fusion`, not fitted."""
    arrays = _from_bytes(data)
    if tuple(arrays["names"].tolist()) != names:
        raise ValueError("the fusion's inputs differ")
    coef = _finite(arrays["coef"], np.float64, (len(names),))
    intercept = _finite(arrays["intercept"], np.float64, ())
    return Fusion(names, coef, float(intercept))


async def load_fit(
    store: FitStore | None, kind: str, digest: str, decode: Callable[[bytes], T]
) -> T | None:
    """The stored fit, or None to fit afresh: when there is none, and when reading or decoding
    it fails (a broken row costs one refit, never the start)."""
    if store is None:
        return None
    try:
        data = await store.load(kind, digest)
        return None if data is None else decode(data)
    except Exception as exc:  # a bad zip or array, or the database's own error
        logger.warning("stored %s fit not usable, fitting again: %r", kind, exc)
        return None


async def save_fit(store: FitStore | None, kind: str, digest: str, data: bytes) -> None:
    if store is None:
        return
    try:
        await store.store(kind, digest, data)
    except Exception as exc:  # only the next start's speed depends on it
        logger.warning("%s fit not stored: %r", kind, exc)


# --- fits shipped with the package ----------------------------------------------------------
#
# A new database has no stored fits, so the first start fitted the fusion for seconds after
# polling began, and the spam scorer went without the model meanwhile. The fits of the shipped
# samples alone (no lessons, no SPAM_SAMPLES_DIR: any of them gives another digest) ship in the
# package, under the same digests, so that start finds them as a restart does.
# scripts/ship_fits.py writes the file; tests/test_fit_cache.py fails when it is stale.

SHIPPED_FITS = "shipped_fits.npz"


class ShippedFits:
    """Read-only fits by (kind, digest), from an .npz of byte arrays named "kind|digest"."""

    def __init__(self, fits: Mapping[tuple[str, str], bytes]) -> None:
        self.fits = dict(fits)

    @classmethod
    def packaged(cls) -> ShippedFits:
        from importlib import resources

        source = resources.files("bot.moderation") / "data" / SHIPPED_FITS
        try:
            data = source.read_bytes()
        except OSError:  # an install without it fits at the first start, as before
            return cls({})
        try:
            arrays = _from_bytes(data)
        except Exception as exc:  # a damaged file costs one fit, never the start
            logger.warning("shipped fits not usable: %r", exc)
            return cls({})
        fits = {}
        for name, array in arrays.items():
            kind, _, digest = name.partition("|")
            fits[kind, digest] = array.tobytes()
        return cls(fits)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {
            f"{kind}|{digest}": np.frombuffer(data, dtype=np.uint8)
            for (kind, digest), data in sorted(self.fits.items())
        }
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    async def load(self, kind: str, digest: str) -> bytes | None:
        return self.fits.get((kind, digest))

    async def store(self, kind: str, digest: str, data: bytes) -> None:
        self.fits[kind, digest] = data


class LayeredFits:
    """The database's fits first, then the shipped ones; what is fitted goes to the database."""

    def __init__(self, stored: FitStore, shipped: FitStore) -> None:
        self.stored = stored
        self.shipped = shipped

    async def load(self, kind: str, digest: str) -> bytes | None:
        data = await self.stored.load(kind, digest)
        return data if data is not None else await self.shipped.load(kind, digest)

    async def store(self, kind: str, digest: str, data: bytes) -> None:
        await self.stored.store(kind, digest, data)
