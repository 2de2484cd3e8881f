"""Access tokens as identity issues them (shared/yx_jwt.h), minted in Python
with the stack's private key, and every malformed or forged variant the
gateway must refuse. Independent of the C code and of identity's login."""
import base64
import hashlib
import hmac
import json
import secrets
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ISSUER = "yuexiang-identity"
AUDIENCE = "yuexiang-app"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def load_private_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), password=None)


def new_key_pair():
    """(private key, public PEM bytes) of a fresh Ed25519 key."""
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pub


def claims(sub=None, sid=None, roles=("resident@1",), org="1", ttl=600, **extra):
    """The claims of a valid access token (a fresh user and session by default)."""
    now = int(time.time())
    c = {
        "iss": ISSUER,
        "sub": sub or str(secrets.randbelow(10**15) + 10**9),
        "aud": AUDIENCE,
        "sid": sid or "s" + secrets.token_hex(8),
        "typ": "access",
        "roles": list(roles),
        "org": org,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(8),
    }
    if org is None:
        del c["org"]
    c.update(extra)
    return c


def sign(key, payload, kid="k1", header=None):
    """A compact JWS over payload (a dict) with an Ed25519 key."""
    head = header if header is not None else {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
    signing_input = b64url_json(head) + "." + b64url_json(payload)
    return signing_input + "." + b64url(key.sign(signing_input.encode()))


def mint(key, kid="k1", **kw):
    """(token, claims) of a valid access token."""
    c = claims(**kw)
    return sign(key, c, kid=kid), c


def alg_none(payload, kid="k1"):
    head = {"alg": "none", "typ": "at+jwt", "kid": kid}
    return b64url_json(head) + "." + b64url_json(payload) + "."


def hs256_with_public_key(public_pem, payload, kid="k1"):
    """The key-confusion forgery: HMAC-SHA256 keyed with the public key's PEM."""
    head = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = b64url_json(head) + "." + b64url_json(payload)
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def tamper_payload(token, **changes):
    """The same header and signature over a payload with changes applied."""
    head, payload, sig = token.split(".")
    c = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    c.update(changes)
    return head + "." + b64url_json(c) + "." + sig


def tamper_signature(token):
    """The token with one bit of its signature flipped."""
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 0x01
    return head + "." + payload + "." + b64url(bytes(raw))
