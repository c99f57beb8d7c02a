"""Channel code of the watermark: 64-bit payload + 16-bit keyed tag, BCH(t=11) over GF(2^8), scrambled.

The 80 message bits (payload, then ``HMAC-SHA256(check key, payload)[:2]``) get 84 BCH parity bits
from ``bchlib`` (a maintained C implementation), so a codeword is :data:`CODE_BITS` = 164 bits. The
codeword is XOR-ed with a key-derived sequence before it is embedded, so that a blank or constant
input never decodes to a fixed codeword.

False-match bound. Without our watermark the detector's hard bits are independent fair coins (see
:mod:`provenance.watermark.core`), so a received word is uniform on {0,1}^164. Hamming balls of
radius <= t around codewords are disjoint, and 2^64 codewords carry a valid tag; hence the chance
that a word lies within distance ``e`` of a valid codeword is exactly ``2^64 * V(164, e) / 2^164``
(:func:`false_match_probability`); the detector multiplies it by the number of geometric hypotheses.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from math import comb

import numpy as np

PAYLOAD_BYTES = 8
TAG_BYTES = 2
BCH_T = 11
_MESSAGE_BYTES = PAYLOAD_BYTES + TAG_BYTES


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
CODE_BITS = 8 * _MESSAGE_BYTES + _PARITY_BITS


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


def false_match_probability(errors: int, hypotheses: int = 1) -> float:
    """Probability that an unmarked clip decodes with at most ``errors`` corrections (union over hypotheses)."""
    ball = sum(comb(CODE_BITS, i) for i in range(int(errors) + 1))
    return min(1.0, hypotheses * ball * 2.0 ** (8 * PAYLOAD_BYTES - CODE_BITS))
