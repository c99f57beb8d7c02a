"""Channel code of the watermark: 64-bit payload + 16-bit keyed tag, BCH(t=11) over GF(2^8), scrambled.

The 80 message bits (payload, then ``HMAC-SHA256(check key, payload)[:2]``) get 84 BCH parity bits
from ``bchlib`` (a maintained C implementation), so a codeword is :data:`CODE_BITS` = 164 bits. The
codeword is XOR-ed with a key-derived sequence before it is embedded, so that a blank or constant
input never decodes to a fixed codeword.

False-match bound. Without our watermark the detector's hard bits are independent fair coins (see
:mod:`provenance.watermark.core`), so a received word is uniform on {0,1}^164. Hamming balls of
radius <= t around codewords are disjoint, and 2^64 codewords carry a valid tag; hence the chance
that a word lies within distance ``e`` of a valid codeword is exactly ``2^64 * V(164, e) / 2^164``
(:func:`false_match_probability`); the detector multiplies it by the number of decodes it may try.

Soft decision. :func:`soft_decode` reads the signed evidence, not just its signs: ordered-statistics
decoding of order 1 (Fossorier & Lin, 1995) over the 80 most reliable independent positions, then the
valid (tagged) codeword of greatest correlation with the evidence. Its false-match bound conditions on
the evidence's magnitudes: without our watermark the signs are fair coins independent of them (the
same dither argument), so for any fixed codeword the correlation is a Rademacher sum with those weights,
whose tail the Chernoff bound ``min_λ exp(−λs)·Π cosh(λ|y_i|)`` caps; the union over the 2^64 valid
codewords gives :func:`soft_false_match_log`, whatever codeword the decoder happened to pick.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from functools import lru_cache
from math import comb, log

import numpy as np

PAYLOAD_BYTES = 8
TAG_BYTES = 2
BCH_T = 11
_MESSAGE_BYTES = PAYLOAD_BYTES + TAG_BYTES
_MESSAGE_BITS = 8 * _MESSAGE_BYTES


_local = threading.local()


def _bch():
    """This thread's BCH codec: building one costs more than a decode, and a codec keeps the error
    locations of its last decode for ``correct``, so threads must not share one."""
    bch = getattr(_local, "bch", None)
    if bch is None:
        import bchlib

        bch = _local.bch = bchlib.BCH(BCH_T, m=8)
    return bch


_PARITY_BITS = _bch().ecc_bits  # 84: bchlib pads the parity to whole bytes; the pad bits are not sent
CODE_BITS = _MESSAGE_BITS + _PARITY_BITS


def _tag(check_key: bytes, payload: bytes) -> bytes:
    return hmac.new(check_key, payload, hashlib.sha256).digest()[:TAG_BYTES]


def encode(payload: bytes, check_key: bytes, scramble: np.ndarray) -> np.ndarray:
    """Payload (8 bytes) -> scrambled codeword, uint8 array of :data:`CODE_BITS` zeros and ones."""
    message = payload + _tag(check_key, payload)
    parity = _bch().encode(message)
    bits = np.unpackbits(np.frombuffer(message + parity, np.uint8))[:CODE_BITS]
    return bits ^ scramble


def decode(hard_bits: np.ndarray, check_key: bytes, scramble: np.ndarray) -> tuple[bytes, int] | None:
    """Scrambled hard bits -> (payload, number of bit errors corrected), or None when no valid codeword."""
    bits = np.concatenate([hard_bits.astype(np.uint8) ^ scramble, np.zeros(-CODE_BITS % 8, np.uint8)])
    raw = np.packbits(bits).tobytes()
    message, parity = bytearray(raw[:_MESSAGE_BYTES]), bytearray(raw[_MESSAGE_BYTES:])
    bch = _bch()
    errors = bch.decode(message, parity)
    if errors < 0:
        return None
    bch.correct(message, parity)
    payload, tag = bytes(message[:PAYLOAD_BYTES]), bytes(message[PAYLOAD_BYTES:])
    if not hmac.compare_digest(tag, _tag(check_key, payload)):
        return None
    return payload, int(errors)


@lru_cache(maxsize=1)
def _generator() -> np.ndarray:
    """The code's systematic generator matrix ``[80, CODE_BITS]`` (0/1): BCH is linear, so row ``i``
    is the codeword of message bit ``i`` alone."""
    rows = np.zeros((_MESSAGE_BITS, CODE_BITS), np.uint8)
    for i in range(_MESSAGE_BITS):
        message = np.zeros(_MESSAGE_BITS, np.uint8)
        message[i] = 1
        parity = _bch().encode(np.packbits(message).tobytes())
        rows[i] = np.concatenate([message, np.unpackbits(np.frombuffer(bytes(parity), np.uint8))[:_PARITY_BITS]])
    rows.flags.writeable = False
    return rows


def _osd_candidates(evidence: np.ndarray) -> np.ndarray:
    """Order-1 ordered-statistics candidates ``[B, 81, CODE_BITS]`` (0/1) for ``evidence`` ``[B, CODE_BITS]``
    (positive: bit 0).

    Gaussian elimination brings the generator to identity on the most reliable independent positions
    (the first row below the current one with the column's bit is the pivot); their hard decisions, and
    each of them flipped once, re-encode to the candidates. All words at once, rows packed in 64-bit
    words: one step per column for the batch, not one per column and word.
    """
    batch, k = evidence.shape[0], _MESSAGE_BITS
    order = np.argsort(-np.abs(evidence), axis=1, kind="stable")
    words = -(-CODE_BITS // 64)
    packed = np.zeros((batch, k, 8 * words), np.uint8)
    packed[..., : -(-CODE_BITS // 8)] = np.packbits(_generator()[:, order].transpose(1, 0, 2), axis=-1)
    rows = packed.view(np.uint64)  # [batch, k, words], the same memory as packed
    next_row = np.zeros(batch, np.int64)
    pivots = np.zeros((batch, k), np.int64)
    below = np.arange(k)[None, :]
    everyone = np.arange(batch)
    for column in range(CODE_BITS):
        bits = (packed[:, :, column // 8] >> (7 - column % 8)) & 1  # [batch, k]
        eligible = (bits == 1) & (below >= next_row[:, None])
        has = eligible.any(axis=1)
        if not has.any():
            continue
        b, row, pivot = everyone[has], next_row[has], eligible[has].argmax(axis=1)
        rows[b, row], rows[b, pivot] = rows[b, pivot], rows[b, row].copy()
        bits[b, pivot] = bits[b, row]  # the row that moved into the pivot's place
        bits[b, row] = 0  # the pivot row is not eliminated against itself
        rows[b] ^= bits[b][:, :, None].astype(np.uint64) * rows[b, row][:, None, :]
        pivots[b, row] = column
        next_row[b] += 1
        if (next_row == k).all():
            break
    hard = np.take_along_axis(evidence, order, axis=1) < 0
    chosen = np.take_along_axis(hard, pivots, axis=1).astype(np.uint64)  # [batch, k]
    base = np.bitwise_xor.reduce(chosen[:, :, None] * rows, axis=1)  # row i of the reduced matrix flips pivot i alone
    candidates = np.concatenate([base[:, None], base[:, None] ^ rows], axis=1)
    bits = np.unpackbits(candidates.view(np.uint8), axis=-1)[..., :CODE_BITS]
    out = np.empty_like(bits)
    np.put_along_axis(out, np.broadcast_to(order[:, None, :], bits.shape), bits, axis=2)
    return out


def soft_false_match_log(magnitudes: np.ndarray, correlation: float) -> float:
    """Natural log of a bound on the chance that, without our watermark, some valid codeword correlates
    with evidence of these ``magnitudes`` at least ``correlation``: ``2^64`` times the Chernoff bound on a
    Rademacher sum with weights ``magnitudes`` (not capped at 1: callers multiply it by their counts)."""
    a = np.asarray(magnitudes, np.float64)
    total, valid = float(a.sum()), 8 * PAYLOAD_BYTES * log(2)
    if correlation <= 0 or total <= 0:
        return valid
    # The exponent Σ log cosh(λa) − λs is convex in λ: Newton from the Gaussian approximation's optimum
    # s/Σa². An s within rounding of Σ a (every sign agrees) is taken just below it, where λ is finite.
    correlation = min(correlation, total * (1 - 1e-9))
    lam = correlation / float(a @ a)
    for _ in range(100):
        t = np.tanh(lam * a)
        slope, curvature = float(a @ t) - correlation, float((a * a) @ (1 - t * t))
        if curvature <= 0:
            break
        step = slope / curvature
        lam = lam / 2 if lam - step <= 0 else lam - step  # stay where the exponent is defined
        if abs(step) <= 1e-12 * lam:
            break
    x = lam * a  # log cosh x = x + log1p(e^-2x) − log 2 for x >= 0
    return valid + float(-lam * correlation + (x + np.log1p(np.exp(-2 * x)) - log(2)).sum())


def soft_decode(soft_bits: np.ndarray, check_key: bytes, scramble: np.ndarray, max_log_bound: float) -> list[tuple[bytes, float, int] | None]:
    """Scrambled soft bits ``[B, CODE_BITS]`` (positive: 0) -> per word, (payload,
    :func:`soft_false_match_log`, hard bits it overrules) for the best-correlated valid codeword among the
    order-1 candidates, or None when none is valid or its bound exceeds ``max_log_bound``."""
    evidence = np.asarray(soft_bits, np.float64).reshape(-1, CODE_BITS) * (1.0 - 2.0 * scramble)
    all_candidates = _osd_candidates(evidence)
    out: list[tuple[bytes, float, int] | None] = []
    for word, candidates in zip(evidence, all_candidates):
        correlations = (1.0 - 2.0 * candidates) @ word
        magnitudes, found = np.abs(word), None
        for index in np.argsort(-correlations, kind="stable"):
            log_bound = soft_false_match_log(magnitudes, float(correlations[index]))
            if log_bound > max_log_bound:  # the bound only grows down the list
                break
            message = np.packbits(candidates[index, :_MESSAGE_BITS]).tobytes()
            payload, tag = message[:PAYLOAD_BYTES], message[PAYLOAD_BYTES:]
            if hmac.compare_digest(tag, _tag(check_key, payload)):
                found = payload, log_bound, int(np.count_nonzero(candidates[index] != (word < 0)))
                break
        out.append(found)
    return out


def false_match_probability(errors: int, hypotheses: int = 1) -> float:
    """Probability that an unmarked clip decodes with at most ``errors`` corrections (union over hypotheses)."""
    ball = sum(comb(CODE_BITS, i) for i in range(int(errors) + 1))
    return min(1.0, hypotheses * ball * 2.0 ** (8 * PAYLOAD_BYTES - CODE_BITS))
