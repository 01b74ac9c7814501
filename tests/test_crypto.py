"""The iSolarCloud encrypted-call envelope: AES, RSA, request building and reply decoding.

The known answers below were computed once, independently of the code under test, with the
``cryptography`` package (AES-128-ECB with PKCS7 padding; RSA key generation and PKCS1v15
encryption), and the AES values were cross-checked with ``openssl enc -aes-128-ecb -K <hex key>``.
They are pasted here as literals so the tests do not depend on that package.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap

import pytest
from Crypto.PublicKey import RSA

from custom_components.solar_cloud.api.crypto import (
    aes_decrypt_hex,
    aes_encrypt_hex,
    aes_key_bytes,
    decrypt_response,
    encrypt_request,
    load_rsa_public_key,
    make_nonce,
    random_aes_key,
    rsa_decrypt_b64url,
    rsa_encrypt_b64url,
)

# --- AES known answer -------------------------------------------------------------------------

AES_KEY = "1234567890abcdef"
AES_PLAINTEXT = b'{"result_code":"1","result_msg":"success","result_data":{"token":"abc"}}'
# cryptography: Cipher(AES(b"1234567890abcdef"), ECB()) over PKCS7(128)-padded AES_PLAINTEXT,
# .hex().upper(); openssl gave the same bytes.
AES_CIPHERTEXT = (
    "D1DC267B63D8B7744E7FC5CA21C1EE6A9B80394F44ACED7BC9E384ED65998B46"
    "3C3CBA03C1EBBDB27C0D27FB4A8E1D2F2273C6CE59B5565DE465A4325A700432"
    "D3200EE267B3E97B4E3A5D7825E9B03A"
)

# --- RSA key pair (1024 bits, generated once with cryptography) --------------------------------

PRIVATE_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBAM7jXPjqtA7hMhEY
h/k3i54u/3W+cAtbViAbOxX7UkHV7Ur9I4iA0Q9piwpIgTy0qEZrb3YiFE2FCzuY
EnbKQofI9NdbfD6n5hWR+cojbplkDVKWDZnt2G5qrvL953aMvIS5YfV9hLlpVTJp
JtkDz1Ql/RjXvDOeuG7Enx4IU981AgMBAAECgYEAtwAiUwO4dZj44mpijC130Foe
GZZ0IXePPSMZJp6B6j5CgZxce/gF9K4VEOmFd58NYgzSMRp//vn6L6KaYn0STtWB
m6zN/LAXNjj+a0jNOaLRpH/nozTSXWWQa0pt+hV2zViBj7RhEGy5VEUcDDungkVy
OHpOyE1ChT5VUJEnuoECQQD2J3QnrCEMJ2UAiiVZI3euO7VrRncsGxPYzFVIB51g
Z2MXpvuxEnNh21iIpkSpkmA/CHUrh1Q25yl0stmyY7KlAkEA1ynWWGo2Zl9jruyA
rdD9aO3jf+JH6WFZKDNSDOskc7yR6wG6ry6bW4qgtpwlxnWqEem9pU2VFTBkDZvP
lNSlUQJBANHAWt03cs2tgAaOsTac323LmVL5L7GYvTe/HmiLfJJaZvkPpGeF5mYb
h/yhWd75SSRNK7LU1XEXV58GjDTTebUCQAaL5VOnV6Rhvpyx4XBobW1l34gikGGP
brEEbrip5uAGmsH1uYJe/qcYXq9vrM6PAe+tlvGSnLiaUlD/rp8uoSECQQCXEnP0
7yGYzI2Zx3x4ZG945NknOjGVlfydsG2DAcwUmTkqRnZbGObgMz0wOo24HHN9NE7g
iNyov+/2ifsoNBAI
-----END PRIVATE KEY-----
"""
# The matching public key as the portal shows it: URL-safe base64 of the DER
# SubjectPublicKeyInfo, without "=" padding.
PUBLIC_KEY_B64URL = (
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDO41z46rQO4TIRGIf5N4ueLv91vnALW1YgGzsV-1JB1e1K_SOIgNEP"
    "aYsKSIE8tKhGa292IhRNhQs7mBJ2ykKHyPTXW3w-p-YVkfnKI26ZZA1Slg2Z7dhuaq7y_ed2jLyEuWH1fYS5aVUyaSbZ"
    "A89UJf0Y17wznrhuxJ8eCFPfNQIDAQAB"
)
# cryptography: public_key.encrypt(b"A123456zA123456z", PKCS1v15()), URL-safe base64, "=" removed.
RSA_KEY_PLAINTEXT = b"A123456zA123456z"
RSA_CIPHERTEXT = (
    "RUPk__Yi-ixDANrblPz_Bl9v7u9QN16SYk4Z-aIU0zcAIcdICrsE7Jubiu-7MrIpIfcrKubas-BCCEyyoYyhgrASXIKm"
    "KJX0dKpC0CMr4ddEZJMKs9l_WNGwQo2K2NOMy92LfhfPsF9568YHagXsRBk2WGYa-rkA2zpZmQWTl20"
)

# --- Request envelope known answer ---------------------------------------------------------------

REQUEST_AES_KEY = "A123456zA123456z"
REQUEST_NONCE = "cb360459bd624c6ab15308c4b6847856"
REQUEST_TIMESTAMP_MS = 1616725497384
REQUEST_PAYLOAD = {
    "appkey": "ABCDEF0123",
    "login_type": "1",
    "user_account": "user@example.com",
    "user_password": "pässwörd",
}
REQUEST_JSON = (
    '{"appkey":"ABCDEF0123","login_type":"1","user_account":"user@example.com",'
    '"user_password":"pässwörd","api_key_param":{"nonce":"cb360459bd624c6ab15308c4b6847856",'
    '"timestamp":"1616725497384"}}'
)
# cryptography: AES-128-ECB/PKCS7 of REQUEST_JSON.encode("utf-8") under b"A123456zA123456z".
REQUEST_BODY_HEX = (
    "C5A87B7D30866C5EC6B5027D9D90D58C86D6B4F6FD59D0D97F7A698E471ED190"
    "B7C94940C488031B6CEAD2636ED9A1FF50F85C9F413779D054F460183AF0F63B"
    "8742FD7CAAB860037AABA810C5E6C442F8ED82C4D48CF2E276E4E08ED53F2E5A"
    "181E1344FE5CEF7C173348E39D3D5634CAB94C937EBB801DCB3C7836BE0A9929"
    "D74F39FAC2526E712BBCFA5D1EF1ABCEB19AFCC6414DBBC07F359F13D4FBC3DE"
    "AD0D5AC8AE125F7C1280D9882304286110EB785F753427F5F1DD9F6C98BF7F0D"
    "E34EBCFE9DF065E96699B535BACCBB3C"
)

ALNUM = re.compile(r"[A-Za-z0-9]+")
URLSAFE = re.compile(r"[A-Za-z0-9_-]*")


@pytest.fixture(name="private_key")
def private_key_fixture() -> RSA.RsaKey:
    """The test key pair's private half."""
    return RSA.import_key(PRIVATE_KEY_PEM)


@pytest.fixture(name="public_key")
def public_key_fixture() -> RSA.RsaKey:
    """The test key pair's public half, loaded the way the portal shows it."""
    return load_rsa_public_key(PUBLIC_KEY_B64URL)


# --- Random values ---------------------------------------------------------------------------


def test_random_aes_key_and_nonce() -> None:
    """Keys are 16 and nonces 32 letters and digits, fresh every time."""
    keys = {random_aes_key() for _ in range(20)}
    nonces = {make_nonce() for _ in range(20)}
    assert len(keys) == 20
    assert len(nonces) == 20
    assert all(len(key) == 16 and ALNUM.fullmatch(key) for key in keys)
    assert all(len(nonce) == 32 and ALNUM.fullmatch(nonce) for nonce in nonces)


# --- AES -------------------------------------------------------------------------------------


def test_aes_key_bytes() -> None:
    """Short keys are padded with "0", long ones cut at 16 bytes, as the vendor code does."""
    assert aes_key_bytes("abc") == b"abc0000000000000"
    assert aes_key_bytes("") == b"0" * 16
    assert aes_key_bytes(AES_KEY) == AES_KEY.encode()
    assert aes_key_bytes("1234567890abcdefXYZ") == b"1234567890abcdef"
    assert aes_key_bytes("é" * 10) == ("é" * 8).encode("utf-8")


def test_aes_encrypt_known_answer() -> None:
    """Encryption gives the independently computed upper-case hex."""
    assert aes_encrypt_hex(AES_KEY, AES_PLAINTEXT) == AES_CIPHERTEXT


def test_aes_decrypt_known_answer() -> None:
    """The known ciphertext decrypts in either letter case and with surrounding whitespace."""
    assert aes_decrypt_hex(AES_KEY, AES_CIPHERTEXT) == AES_PLAINTEXT
    assert aes_decrypt_hex(AES_KEY, AES_CIPHERTEXT.lower()) == AES_PLAINTEXT
    assert aes_decrypt_hex(AES_KEY, f"  {AES_CIPHERTEXT}\r\n") == AES_PLAINTEXT


def test_aes_short_key_is_padded() -> None:
    """A short key encrypts exactly as its "0"-padded form."""
    encrypted = aes_encrypt_hex("abc", b"hello")
    assert encrypted == aes_encrypt_hex("abc0000000000000", b"hello")
    assert aes_decrypt_hex("abc0000000000000", encrypted) == b"hello"


def test_aes_round_trip_block_boundaries() -> None:
    """Empty and whole-block plaintexts get a full block of padding and come back intact."""
    for size in (0, 1, 15, 16, 17, 32):
        data = bytes(range(size))
        encrypted = aes_encrypt_hex(AES_KEY, data)
        assert len(encrypted) == 32 * (size // 16 + 1)
        assert encrypted == encrypted.upper()
        assert aes_decrypt_hex(AES_KEY, encrypted) == data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("XYZ0" * 8, "not valid hexadecimal"),
        (AES_CIPHERTEXT[:-1], "not valid hexadecimal"),
        ("AB CD" * 8, "not valid hexadecimal"),
        ("", "not a positive multiple"),
        (AES_CIPHERTEXT[:-2], "not a positive multiple"),
        ("00" * 16, "padding is invalid"),
    ],
)
def test_aes_decrypt_rejects(text: str, message: str) -> None:
    """Bad hex, a length that is not whole blocks, and bad padding raise ValueError."""
    with pytest.raises(ValueError, match=message):
        aes_decrypt_hex(AES_KEY, text)


def test_aes_decrypt_wrong_key() -> None:
    """A wrong key fails on the padding instead of returning garbage."""
    with pytest.raises(ValueError, match="padding is invalid"):
        aes_decrypt_hex("fedcba0987654321", AES_CIPHERTEXT)


# --- RSA -------------------------------------------------------------------------------------


def test_load_public_key_forms(private_key: RSA.RsaKey) -> None:
    """Unpadded URL-safe, padded, standard base64, wrapped lines and PEM all load."""
    expected = private_key.public_key()
    der = base64.urlsafe_b64decode(PUBLIC_KEY_B64URL + "=" * (-len(PUBLIC_KEY_B64URL) % 4))
    standard = base64.b64encode(der).decode()
    assert "+" in standard
    assert "/" in standard
    forms = [
        PUBLIC_KEY_B64URL,
        PUBLIC_KEY_B64URL + "==",
        standard,
        "\n".join(textwrap.wrap(standard, 64)) + "\n",
        f"  {PUBLIC_KEY_B64URL}  \n",
        expected.export_key(format="PEM").decode(),
    ]
    for form in forms:
        assert load_rsa_public_key(form) == expected

    # A key whose DER length needs "=" padding (exponent 3 shortens the structure).
    short = RSA.construct((expected.n, 3))
    short_der = short.export_key(format="DER")
    assert len(short_der) % 3
    padded = base64.urlsafe_b64encode(short_der).decode()
    assert padded.endswith("=")
    assert load_rsa_public_key(padded) == short
    assert load_rsa_public_key(padded.rstrip("=")) == short


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key!",
        "AAAA",
        base64.b64encode(b"random bytes that are not DER").decode(),
        PUBLIC_KEY_B64URL[:-20],
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ],
)
def test_load_public_key_rejects_garbage(text: str) -> None:
    """Anything that is not an RSA public key raises ValueError."""
    with pytest.raises(ValueError, match="not an RSA public key"):
        load_rsa_public_key(text)


def test_load_public_key_rejects_private_key() -> None:
    """A private key pasted by mistake is refused."""
    with pytest.raises(ValueError, match="private key"):
        load_rsa_public_key(PRIVATE_KEY_PEM)


def test_rsa_decrypt_known_answer(private_key: RSA.RsaKey) -> None:
    """A ciphertext made by an independent implementation decrypts to the known key."""
    assert rsa_decrypt_b64url(private_key, RSA_CIPHERTEXT) == RSA_KEY_PLAINTEXT
    # The same bytes written as padded or standard base64 decrypt too.
    assert rsa_decrypt_b64url(private_key, RSA_CIPHERTEXT + "=") == RSA_KEY_PLAINTEXT
    standard = RSA_CIPHERTEXT.replace("-", "+").replace("_", "/")
    assert rsa_decrypt_b64url(private_key, standard) == RSA_KEY_PLAINTEXT


def test_rsa_round_trip(public_key: RSA.RsaKey, private_key: RSA.RsaKey) -> None:
    """Encryption is URL-safe base64 without padding, randomised, and decrypts back."""
    first = rsa_encrypt_b64url(public_key, RSA_KEY_PLAINTEXT)
    second = rsa_encrypt_b64url(public_key, RSA_KEY_PLAINTEXT)
    assert first != second  # PKCS#1 v1.5 padding is random
    for text in (first, second):
        assert "=" not in text
        assert URLSAFE.fullmatch(text)
        assert len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == 128
        assert rsa_decrypt_b64url(private_key, text) == RSA_KEY_PLAINTEXT


def test_rsa_chunked(public_key: RSA.RsaKey, private_key: RSA.RsaKey) -> None:
    """200 bytes are split into a 117-byte and an 83-byte block, each 128 bytes encrypted."""
    data = bytes(range(200))
    text = rsa_encrypt_b64url(public_key, data)
    assert "=" not in text
    assert URLSAFE.fullmatch(text)
    assert len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == 256
    assert rsa_decrypt_b64url(private_key, text) == data
    # Exactly one full block stays one block.
    one_block = rsa_encrypt_b64url(public_key, bytes(117))
    assert len(base64.urlsafe_b64decode(one_block + "=" * (-len(one_block) % 4))) == 128
    assert rsa_decrypt_b64url(private_key, one_block) == bytes(117)


def test_rsa_empty_input(public_key: RSA.RsaKey, private_key: RSA.RsaKey) -> None:
    """Nothing in, nothing out, as in the vendor's block loop."""
    assert rsa_encrypt_b64url(public_key, b"") == ""
    assert rsa_decrypt_b64url(private_key, "") == b""


def test_rsa_encrypt_rejects_tiny_key() -> None:
    """A key too small to hold PKCS#1 v1.5 padding is refused instead of looping."""
    tiny = RSA.construct((0xC5, 3))  # an 8-bit modulus
    with pytest.raises(ValueError, match="too small"):
        rsa_encrypt_b64url(tiny, b"x")


def test_rsa_decrypt_rejects(public_key: RSA.RsaKey, private_key: RSA.RsaKey) -> None:
    """Bad base64, a wrong length, a public key, or a failed decryption raise ValueError."""
    with pytest.raises(ValueError, match="not valid base64"):
        rsa_decrypt_b64url(private_key, "not*base64")
    with pytest.raises(ValueError, match="not a multiple of 128"):
        rsa_decrypt_b64url(private_key, RSA_CIPHERTEXT[:-4])
    with pytest.raises(ValueError, match="needs a private key"):
        rsa_decrypt_b64url(public_key, RSA_CIPHERTEXT)
    # A block of the right size that is not PKCS#1 v1.5: the sentinel comes back and must not
    # pass as an empty plaintext.
    bogus = base64.urlsafe_b64encode(b"\x00\x05" + b"\x11" * 126).decode().rstrip("=")
    with pytest.raises(ValueError, match="decryption failed"):
        rsa_decrypt_b64url(private_key, bogus)
    # Another key pair cannot read our ciphertext (whichever of the two failures it hits).
    other = RSA.generate(1024)  # noqa: S505 -- a throwaway test key the size of the portal's
    with pytest.raises(ValueError, match="decryption failed"):
        rsa_decrypt_b64url(other, RSA_CIPHERTEXT)
    # A block at least as large as the modulus cannot be a ciphertext.
    too_large = base64.urlsafe_b64encode(b"\xff" * 128).decode().rstrip("=")
    with pytest.raises(ValueError, match="decryption failed"):
        rsa_decrypt_b64url(private_key, too_large)


# --- Request envelope ------------------------------------------------------------------------


def test_encrypt_request_known_answer(public_key: RSA.RsaKey, private_key: RSA.RsaKey) -> None:
    """With fixed key, nonce and time, the body is the known encryption of the exact JSON."""
    header, body, key = encrypt_request(
        public_key,
        REQUEST_PAYLOAD,
        aes_key=REQUEST_AES_KEY,
        nonce=REQUEST_NONCE,
        timestamp_ms=REQUEST_TIMESTAMP_MS,
    )
    assert key == REQUEST_AES_KEY
    assert body == REQUEST_BODY_HEX
    assert aes_decrypt_hex(key, body).decode("utf-8") == REQUEST_JSON
    assert "=" not in header
    assert URLSAFE.fullmatch(header)
    assert rsa_decrypt_b64url(private_key, header) == REQUEST_AES_KEY.encode()
    # The caller's mapping is left alone.
    assert "api_key_param" not in REQUEST_PAYLOAD


def test_encrypt_request_replaces_existing_api_key_param(public_key: RSA.RsaKey) -> None:
    """A stale api_key_param in the payload is replaced by the fresh one."""
    payload = {"api_key_param": {"nonce": "old", "timestamp": "1"}, "appkey": "K"}
    _, body, key = encrypt_request(
        public_key, payload, aes_key=REQUEST_AES_KEY, nonce=REQUEST_NONCE, timestamp_ms=5
    )
    assert json.loads(aes_decrypt_hex(key, body)) == {
        "api_key_param": {"nonce": REQUEST_NONCE, "timestamp": "5"},
        "appkey": "K",
    }


def test_encrypt_request_fresh_values(public_key: RSA.RsaKey, private_key: RSA.RsaKey) -> None:
    """Without fixed values every call has its own key and nonce and the current time."""
    calls = [encrypt_request(public_key, {"appkey": "K"}) for _ in range(2)]
    sent = []
    for header, body, key in calls:
        assert len(key) == 16
        assert ALNUM.fullmatch(key)
        assert rsa_decrypt_b64url(private_key, header) == key.encode()
        sent.append(json.loads(aes_decrypt_hex(key, body)))
    nonces = [item["api_key_param"]["nonce"] for item in sent]
    assert all(len(nonce) == 32 and ALNUM.fullmatch(nonce) for nonce in nonces)
    assert nonces[0] != nonces[1]
    assert calls[0][2] != calls[1][2]
    for item in sent:
        timestamp = item["api_key_param"]["timestamp"]
        assert isinstance(timestamp, str)
        assert timestamp.isdigit()
        assert len(timestamp) == 13  # milliseconds since 1970, until the year 2286


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aes_key": "short"}, "AES key must be 16"),
        ({"aes_key": "é" * 16}, "AES key must be 16"),
        ({"nonce": "abc"}, "nonce must be 32"),
        ({"nonce": "-" * 32}, "nonce must be 32"),
    ],
)
def test_encrypt_request_rejects_bad_values(
    public_key: RSA.RsaKey, kwargs: dict[str, str], message: str
) -> None:
    """The gateway refuses keys that are not 16 long and malformed nonces, so do we."""
    with pytest.raises(ValueError, match=message):
        encrypt_request(public_key, {}, **kwargs)


# --- Reply decoding --------------------------------------------------------------------------


def test_decrypt_response_encrypted() -> None:
    """An encrypted reply is decrypted and parsed, whatever the hex case and whitespace."""
    expected = json.loads(AES_PLAINTEXT)
    assert decrypt_response(AES_KEY, AES_CIPHERTEXT) == expected
    assert decrypt_response(AES_KEY, f"\n{AES_CIPHERTEXT.lower()}\n") == expected


def test_decrypt_response_plain_json() -> None:
    """Gateway errors sent without encryption are parsed as they are."""
    reply = '  {"req_serial_num":"x","result_code":"E906","result_msg":"RSA decryption exception"}'
    assert decrypt_response(AES_KEY, reply)["result_code"] == "E906"
    assert decrypt_response(AES_KEY, "[1, 2]") == [1, 2]


def test_decrypt_response_round_trip_unicode() -> None:
    """Non-ASCII text survives the trip."""
    reply = {"result_msg": "成功", "value": 1.5}
    text = aes_encrypt_hex(AES_KEY, json.dumps(reply, ensure_ascii=False).encode("utf-8"))
    assert decrypt_response(AES_KEY, text) == reply


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "looks like JSON"),
        ("<html>Bad gateway</html>", "neither JSON nor decryptable"),
        ("", "neither JSON nor decryptable"),
        (AES_CIPHERTEXT[:-2], "neither JSON nor decryptable"),
        (aes_encrypt_hex(AES_KEY, b"plain text"), "not JSON"),
        (aes_encrypt_hex(AES_KEY, b"\xff\xfe"), "not JSON"),
    ],
)
def test_decrypt_response_rejects(text: str, message: str) -> None:
    """Replies that are neither JSON nor decryptable JSON raise ValueError."""
    with pytest.raises(ValueError, match=message):
        decrypt_response(AES_KEY, text)


def test_decrypt_response_wrong_key() -> None:
    """A reply encrypted under another key is refused."""
    with pytest.raises(ValueError, match="neither JSON nor decryptable"):
        decrypt_response("fedcba0987654321", AES_CIPHERTEXT)
