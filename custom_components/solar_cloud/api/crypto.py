"""Pure cryptographic helpers: the Sungrow iSolarCloud envelope and ShineMonitor signing.

Sungrow iSolarCloud OpenAPI "encrypted call".

The vendor document describes the scheme in its appendices on encryption:

* every call gets a fresh 16-character AES key;
* the ``x-random-secret-key`` header carries that key encrypted with the portal's RSA public key
  (RSA PKCS#1 v1.5, input split into blocks of key size minus 11 bytes, the ciphertexts joined and
  written as URL-safe base64 without padding);
* the JSON body, extended with ``api_key_param`` (a 32-character nonce and the time in
  milliseconds), is encrypted with AES-128-ECB and PKCS#7 padding and sent as upper-case hex;
* the reply is upper-case hex encrypted with the same AES key, except for some gateway errors,
  which come back as plain JSON.

ShineMonitor (Eybond) open platform: every request carries ``sign`` and ``salt`` in its query.
The authentication call signs ``salt + SHA-1(password) + tail``; every other call signs
``salt + secret + token + tail``, where ``tail`` is the query from ``&action=`` on, byte for byte as
it is sent. Digests are lowercase hex.

Everything here is a pure function: no network, no files, no Home Assistant.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from Crypto.Cipher import AES, PKCS1_v1_5
from Crypto.PublicKey import RSA
from Crypto.PublicKey.RSA import RsaKey
from Crypto.Util.Padding import pad, unpad

__all__ = [
    "aes_decrypt_hex",
    "aes_encrypt_hex",
    "aes_key_bytes",
    "decrypt_response",
    "encrypt_request",
    "load_rsa_public_key",
    "make_nonce",
    "random_aes_key",
    "rsa_decrypt_b64url",
    "rsa_encrypt_b64url",
    "sha1_hex",
    "shinemonitor_auth_sign",
    "shinemonitor_query_tail",
    "shinemonitor_salt",
    "shinemonitor_sign",
]

_ALPHANUMERIC: Final = string.ascii_letters + string.digits
_AES_KEY_LENGTH: Final = 16
_NONCE_LENGTH: Final = 32
_BLOCK: Final = AES.block_size
# PKCS#1 v1.5 encryption adds at least 11 bytes of padding to every block.
_PKCS1_OVERHEAD: Final = 11

_HEX_RE: Final = re.compile(r"[0-9A-Fa-f]*")
_ALNUM_RE: Final = re.compile(r"[A-Za-z0-9]*")
_WHITESPACE_RE: Final = re.compile(r"\s+")
_URLSAFE_TO_STANDARD: Final = str.maketrans("-_", "+/")


def _random_alnum(length: int) -> str:
    """Return ``length`` characters drawn from [A-Za-z0-9] by a cryptographic generator."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def random_aes_key() -> str:
    """Return a fresh 16-character AES key made of letters and digits."""
    return _random_alnum(_AES_KEY_LENGTH)


def make_nonce() -> str:
    """Return a fresh 32-character nonce made of letters and digits."""
    return _random_alnum(_NONCE_LENGTH)


def aes_key_bytes(key: str) -> bytes:
    """Return the 16 key bytes the vendor derives from a key string.

    The key is encoded as UTF-8, padded on the right with the character "0" up to 16 bytes, and
    cut at 16 bytes, as in the vendor document's reference code.
    """
    return key.encode("utf-8")[:_AES_KEY_LENGTH].ljust(_AES_KEY_LENGTH, b"0")


def aes_encrypt_hex(key: str, plaintext: bytes) -> str:
    """Encrypt ``plaintext`` with AES-128-ECB and PKCS#7 padding; return upper-case hex."""
    cipher = AES.new(aes_key_bytes(key), AES.MODE_ECB)
    return cipher.encrypt(pad(plaintext, _BLOCK)).hex().upper()


def aes_decrypt_hex(key: str, text: str) -> bytes:
    """Decrypt hex produced by :func:`aes_encrypt_hex` (either letter case) and remove the padding.

    Surrounding whitespace is ignored. Raises ``ValueError`` when the text is not hex, when its
    length is not a whole number of 16-byte blocks, or when the padding is wrong (which is also
    what a wrong key usually produces).
    """
    cleaned = text.strip()
    if not _HEX_RE.fullmatch(cleaned) or len(cleaned) % 2:
        raise ValueError("AES ciphertext is not valid hexadecimal")
    data = bytes.fromhex(cleaned)
    if not data or len(data) % _BLOCK:
        raise ValueError(
            f"AES ciphertext length {len(data)} bytes is not a positive multiple of {_BLOCK}"
        )
    decrypted = AES.new(aes_key_bytes(key), AES.MODE_ECB).decrypt(data)
    try:
        return unpad(decrypted, _BLOCK)
    except ValueError:
        raise ValueError("AES padding is invalid (wrong key or corrupted data)") from None


def _b64decode_any(text: str) -> bytes:
    """Decode URL-safe or standard base64, with or without padding and with any whitespace."""
    compact = _WHITESPACE_RE.sub("", text).rstrip("=").translate(_URLSAFE_TO_STANDARD)
    return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)


def load_rsa_public_key(text: str) -> RsaKey:
    """Load the RSA public key shown in the iSolarCloud developer portal.

    The portal shows base64 (URL-safe or standard, padding optional) of the DER-encoded
    SubjectPublicKeyInfo structure; line breaks and spaces are ignored. A PEM block is accepted as
    well. Raises ``ValueError`` when the text is not an RSA public key.
    """
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = RSA.import_key(stripped)
        else:
            key = RSA.import_key(_b64decode_any(stripped))
    except (ValueError, IndexError, TypeError) as err:
        # binascii.Error is a ValueError; the DER parser may also raise IndexError or TypeError.
        raise ValueError("The text is not an RSA public key (base64 DER or PEM)") from err
    if key.has_private():
        raise ValueError("Expected an RSA public key, but this is a private key")
    return key


def rsa_encrypt_b64url(public_key: RsaKey, data: bytes) -> str:
    """Encrypt ``data`` with RSA PKCS#1 v1.5 as the vendor document prescribes.

    The input is split into blocks of (key size in bytes - 11); each block is encrypted and the
    ciphertexts are joined. The result is URL-safe base64 without "=" padding.
    """
    block = public_key.size_in_bytes() - _PKCS1_OVERHEAD
    if block <= 0:
        raise ValueError("RSA key is too small for PKCS#1 v1.5 encryption")
    cipher = PKCS1_v1_5.new(public_key)
    encrypted = b"".join(
        cipher.encrypt(data[start : start + block]) for start in range(0, len(data), block)
    )
    return base64.urlsafe_b64encode(encrypted).decode("ascii").rstrip("=")


def rsa_decrypt_b64url(private_key: RsaKey, text: str) -> bytes:
    """Reverse :func:`rsa_encrypt_b64url` with the private key (used by the test simulator).

    The ciphertext is split into blocks of the key size in bytes. Raises ``ValueError`` when the
    text is not base64, its length does not fit the key, the key is not private, or a block does
    not decrypt.
    """
    if not private_key.has_private():
        raise ValueError("RSA decryption needs a private key")
    try:
        data = _b64decode_any(text)
    except binascii.Error as err:
        raise ValueError("RSA ciphertext is not valid base64") from err
    size = private_key.size_in_bytes()
    if len(data) % size:
        raise ValueError(f"RSA ciphertext length {len(data)} is not a multiple of {size} bytes")
    cipher = PKCS1_v1_5.new(private_key)
    # A valid block holds at most (size - 11) bytes, so a sentinel one byte longer can never be
    # mistaken for a real plaintext. (A sentinel that is not a byte string is unreliable: this
    # version of the library returns b"" instead of it when the padding is wrong.)
    sentinel = bytes(size - _PKCS1_OVERHEAD + 1)
    parts: list[bytes] = []
    for start in range(0, len(data), size):
        try:
            plain = cipher.decrypt(data[start : start + size], sentinel)
        except ValueError as err:  # the block is larger than the modulus
            raise ValueError(f"RSA decryption failed: {err}") from err
        if len(plain) > size - _PKCS1_OVERHEAD:  # the sentinel came back: the padding is wrong
            raise ValueError("RSA decryption failed (wrong key or corrupted data)")
        parts.append(plain)
    return b"".join(parts)


def encrypt_request(
    public_key: RsaKey,
    payload: Mapping[str, Any],
    *,
    aes_key: str | None = None,
    nonce: str | None = None,
    timestamp_ms: int | None = None,
) -> tuple[str, str, str]:
    """Build an encrypted call from a request body.

    A copy of ``payload`` gets ``api_key_param`` with the nonce and the time in milliseconds (as a
    string), replacing any value already there. The result is JSON-encoded compactly as UTF-8 and
    encrypted with the AES key. A fresh key and nonce are drawn unless given; the time defaults to
    now.

    Returns ``(x_random_secret_key, encrypted_body_hex, aes_key)``: the header value, the body to
    send, and the key needed to decrypt the reply with :func:`decrypt_response`.
    """
    key = random_aes_key() if aes_key is None else aes_key
    if len(key.encode("utf-8")) != _AES_KEY_LENGTH:
        raise ValueError(f"The AES key must be {_AES_KEY_LENGTH} bytes long")
    once = make_nonce() if nonce is None else nonce
    if len(once) != _NONCE_LENGTH or not _ALNUM_RE.fullmatch(once):
        raise ValueError(f"The nonce must be {_NONCE_LENGTH} letters and digits")
    stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms

    body = dict(payload)
    body["api_key_param"] = {"nonce": once, "timestamp": str(stamp)}
    plaintext = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    header = rsa_encrypt_b64url(public_key, key.encode("utf-8"))
    return header, aes_encrypt_hex(key, plaintext), key


def decrypt_response(aes_key: str, text: str) -> Any:
    """Decode a reply to an encrypted call.

    Text that starts with "{" or "[" is plain JSON (the gateway answers some errors without
    encryption); anything else is hex decrypted with ``aes_key`` and then parsed as JSON. Raises
    ``ValueError`` when neither works.
    """
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except ValueError as err:
            raise ValueError("The reply looks like JSON but does not parse") from err
    try:
        plaintext = aes_decrypt_hex(aes_key, stripped)
    except ValueError as err:
        raise ValueError(f"The reply is neither JSON nor decryptable: {err}") from err
    try:
        return json.loads(plaintext.decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise ValueError("The decrypted reply is not JSON") from err


# -- ShineMonitor -------------------------------------------------------------------------------

# The cloud wants at least 8 characters of salt.
SHINEMONITOR_MIN_SALT: Final = 8


def sha1_hex(text: str) -> str:
    """SHA-1 of the UTF-8 text as lowercase hex."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def shinemonitor_salt(now: float, nonce: int | None = None) -> str:
    """A fresh salt: the time in milliseconds, plus a few random digits so that two calls in
    the same millisecond still differ."""
    extra = secrets.randbelow(1000) if nonce is None else nonce % 1000
    salt = f"{int(now * 1000)}{extra:03d}"
    return salt.rjust(SHINEMONITOR_MIN_SALT, "0")


def shinemonitor_query_tail(action: str, params: Sequence[tuple[str, str]]) -> str:
    """``&action=<action>&k=v…`` exactly as it goes on the wire (values percent-encoded, with
    ``,`` and ``:`` left as they are, as the cloud's own clients send them)."""
    parts = [f"&action={quote(action, safe='')}"]
    parts.extend(f"&{quote(key, safe='-_')}={quote(value, safe=',:')}" for key, value in params)
    return "".join(parts)


def shinemonitor_auth_sign(salt: str, password: str, tail: str) -> str:
    """``sign`` of the authentication call: SHA-1(salt + SHA-1(password) + tail)."""
    return sha1_hex(salt + sha1_hex(password) + tail)


def shinemonitor_sign(salt: str, secret: str, token: str, tail: str) -> str:
    """``sign`` of a business call: SHA-1(salt + secret + token + tail)."""
    return sha1_hex(salt + secret + token + tail)
