"""HTTPS on the public listener through Kore's own TLS (YX_TLS_CERT and
YX_TLS_KEY): self-signed RSA and P-256 certificates made here with openssl,
checked with curl and openssl s_client for TLS 1.2 and 1.3 through gateways
of our own. The private key stays in Kore's key manager process, which signs
the handshakes for the workers (patched Kore, see shared/kore/patches). Also:
plain HTTP stays the default, and the listener binds only the address it is
given.
"""
import shutil
import socket
import subprocess

import pytest
import requests

from test_gateway_hardening import (AUTH, RecordingUpstream, free_port,  # noqa: F401
                                    private_gateway, start_fails)

KEYS = {
    "rsa": ["-newkey", "rsa:2048"],
    "p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """kind -> (certificate, key): self-signed for localhost and 127.0.0.1."""
    if shutil.which("openssl") is None or shutil.which("curl") is None:
        pytest.skip("openssl and curl are needed")
    d = tmp_path_factory.mktemp("tls")
    out = {}
    for kind, args in KEYS.items():
        cert, key = d / f"{kind}.crt", d / f"{kind}.key"
        subprocess.run(["openssl", "req", "-x509", *args, "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        key.chmod(0o600)
        out[kind] = (cert, key)
    return out


@pytest.fixture(scope="module")
def upstream():
    server = RecordingUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=sorted(KEYS))
def tls_gw(request, private_gateway, certs, upstream):
    cert, key = certs[request.param]
    gw = private_gateway(cafile=cert, YX_TLS_CERT=str(cert), YX_TLS_KEY=str(key),
                         YX_WORKERS="2", YX_UPSTREAM_IDENTITY=f"127.0.0.1:{upstream.port}")
    gw.kind, gw.cert = request.param, cert
    return gw


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_curl_over_https(tls_gw, version):
    auth = [a for k, v in AUTH.items() for a in ("-H", f"{k}: {v}")]
    r = subprocess.run(["curl", "-sS", *auth, "--cacert", str(tls_gw.cert), f"--tlsv{version}",
                        "--tls-max", version, "-o", "-", "-w", "\n%{http_code} %{ssl_verify_result}",
                        f"https://localhost:{tls_gw.port}/api/v1/auth/tls-{version}"],
                       capture_output=True, timeout=20, text=True)
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition("\n")
    assert tail == "200 0", r.stdout
    assert '"/api/v1/auth/tls-' in body


@pytest.mark.parametrize("flag,proto", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_openssl_s_client(tls_gw, flag, proto):
    req = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_gw.port}",
                        "-servername", "localhost", "-CAfile", str(tls_gw.cert), flag,
                        "-verify_return_error", "-ign_eof"],
                       input=req, capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in out, out
    assert f"Protocol  : {proto}" in out or f"New, {proto}," in out, out
    assert "HTTP/1.1 200 OK" in out and '"service":"gateway"' in out
    kind = "RSA" if tls_gw.kind == "rsa" else "ECDSA"
    if proto == "TLSv1.2":
        assert f"ECDHE-{kind}" in out, out


def test_many_handshakes_on_both_workers(tls_gw):
    """Each handshake is signed by the key manager: a burst of new
    connections (no session reuse) all succeed."""
    for _ in range(30):
        r = requests.get(tls_gw.url + "/healthz", verify=str(tls_gw.cert), timeout=5,
                         headers={"Connection": "close"})
        assert r.status_code == 200
    assert "sandbox violation" not in tls_gw.log_text()


def test_plain_http_on_the_tls_port_gets_no_answer(tls_gw):
    with socket.create_connection(("127.0.0.1", tls_gw.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/")


def test_sigterm_drains_over_tls(tls_gw):
    r = requests.get(tls_gw.url + "/healthz", verify=str(tls_gw.cert), timeout=5)
    assert r.status_code == 200
    assert tls_gw.stop() == 0


def test_tls_settings_are_checked_at_start(tmp_path, certs):
    cert, key = certs["rsa"]
    for env in ({"YX_TLS_CERT": str(cert)}, {"YX_TLS_KEY": str(key)},
                {"YX_TLS_CERT": str(tmp_path / "missing.crt"), "YX_TLS_KEY": str(key)}):
        code, err = start_fails({"YX_INTERNAL_KEY": "00" * 32,
                                 "YX_LISTEN": f"127.0.0.1:{free_port()}",
                                 "YX_PIDFILE": str(tmp_path / "p.pid"), **env})
        assert code == 2 and b"YX_TLS_" in err, (env, err)


def test_plain_http_is_the_default_and_binds_only_where_told(private_gateway, upstream):
    gw = private_gateway(YX_UPSTREAM_IDENTITY=f"127.0.0.1:{upstream.port}")
    assert gw.scheme == "http"
    assert requests.get(f"http://127.0.0.1:{gw.port}/healthz", timeout=5).status_code == 200
    # YX_LISTEN=127.0.0.1:<port>: not on another loopback address, let alone
    # on every interface.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", gw.port), timeout=2).close()
    listening = open("/proc/net/tcp").read().splitlines()[1:]
    ours = [line.split() for line in listening if line.split()[3] == "0A"
            and int(line.split()[1].split(":")[1], 16) == gw.port]
    assert [x[1].split(":")[0] for x in ours] == ["0100007F"], ours
