"""The gateway's signed identity headers, computed independently of the C code
(shared/yx_idhdr.c), so tests can call a service directly as the gateway would,
and forge what an attacker would."""
import hashlib
import hmac
import struct
import time

DOMAIN = b"yx-idhdr-v1"


def _lp(value):
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(raw)) + raw


def sign(key_hex, method, target, request_id, user="", roles="", org="", session="", t=None):
    """X-Yx-Sig for one request: HMAC-SHA256 over length-prefixed fields."""
    t = int(time.time()) if t is None else t
    msg = b"".join(_lp(v) for v in (DOMAIN, method, target, request_id, user, roles, org,
                                     session, str(t)))
    mac = hmac.new(bytes.fromhex(key_hex), msg, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def headers(key_hex, method, target, request_id, user="", roles="", org="", session="", t=None):
    """The headers the gateway forwards for this identity (empty ones left out)."""
    h = {
        "X-Request-Id": request_id,
        "X-Yx-User": user,
        "X-Yx-Roles": roles,
        "X-Yx-Org": org,
        "X-Yx-Session": session,
        "X-Yx-Sig": sign(key_hex, method, target, request_id, user, roles, org, session, t),
    }
    return {k: v for k, v in h.items() if v}
