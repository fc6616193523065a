"""A TLS-secured cluster: a real ``dask scheduler`` and ``dask worker`` that
speak only ``tls://``, with certificates this module makes (a CA, and one
certificate per process signed by it); dmltk.connect and the CLI with and
without them."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import sys

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from distributed import Client, Security
from sklearn.datasets import dump_svmlight_file, load_breast_cancer

import dmltk

from .test_cli import _free_port, _stop, assert_fails, assert_ok, run_cli


def _authority(name: str):
    """A self-signed CA: its key and certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _signed(authority, name: str, directory):
    """A key and a certificate for 127.0.0.1 signed by ``authority``,
    written as PEM files: their paths."""
    ca_key, ca_certificate = authority
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """``(address, files)``: a TLS-only scheduler and one worker on
    127.0.0.1, and the PEM files (CA, client, and a stranger's certificate
    signed by another CA)."""
    directory = tmp_path_factory.mktemp("tls")
    authority = _authority("dmltk test CA")
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(authority[1].public_bytes(serialization.Encoding.PEM))
    files = {"ca": ca_file}
    for name in ("scheduler", "worker", "client"):
        files[name] = _signed(authority, name, directory)
    files["stranger"] = _signed(_authority("another CA"), "stranger", directory)
    address = f"tls://127.0.0.1:{_free_port()}"
    tls = ["--tls-ca-file", str(ca_file)]
    processes = []

    def start(name, arguments):
        cert, key = files[name]
        command = [sys.executable, "-m", "dask", *arguments, *tls]
        command += ["--tls-cert", str(cert), "--tls-key", str(key)]
        with open(directory / f"{name}.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, cwd=directory
                )
            )

    port = address.rsplit(":")[-1]
    scheduler = ["scheduler", "--host", "127.0.0.1", "--protocol", "tls"]
    worker = ["worker", address, "--host", "127.0.0.1", "--nthreads", "1"]
    try:
        start("scheduler", [*scheduler, "--port", port, "--no-dashboard"])
        start("worker", [*worker, "--no-nanny", "--no-dashboard"])
        with Client(address, security=_security(files), timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address, files
    finally:
        _stop(processes)


def _security(files, name: str = "client") -> Security:
    cert, key = files[name]
    return Security(
        tls_ca_file=str(files["ca"]),
        tls_client_cert=str(cert),
        tls_client_key=str(key),
        require_encryption=True,
    )


def test_connect_and_fit_over_tls(tls_cluster):
    address, files = tls_cluster
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    with dmltk.connect(address, security=_security(files), timeout=10) as client:
        assert client.scheduler.address == address
        X_dask, y_dask = dmltk.partition(X, y, by="rows", n_blocks=3)
        model = dmltk.LogisticRegression(tol=1e-10).fit(X_dask, y_dask)
    reference = dmltk.LogisticRegression(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6, atol=1e-8)


def test_a_client_without_the_certificates_is_refused(tls_cluster):
    address, files = tls_cluster
    with pytest.raises(OSError, match=rf"{address} speaks TLS, and no certificate"):
        dmltk.connect(address, timeout=5)
    with pytest.raises(OSError, match=rf"{address} refused the TLS connection"):
        dmltk.connect(address, security=_security(files, "stranger"), timeout=5)
    with pytest.raises(TypeError, match="security applies to a scheduler"):
        dmltk.connect(security=_security(files))


def test_the_cli_over_tls(tls_cluster, tmp_path):
    address, files = tls_cluster
    cert, key = files["client"]
    tls = ["--tls-ca-file", files["ca"], "--tls-cert", cert, "--tls-key", key]
    result = run_cli("info", *tls, scheduler=address)
    assert_ok(result)
    assert "workers: 1" in result.stdout
    # Training too: the model file is written.
    X, y = load_breast_cancer(return_X_y=True)
    data = tmp_path / "train.libsvm"
    dump_svmlight_file(X[:, :5], y, str(data), zero_based=False)
    model_path = tmp_path / "model.dmltk"
    assert_ok(run_cli("train", data, "--model", model_path, *tls, scheduler=address))
    assert dmltk.load(model_path).n_features_in_ == 5
    # Without certificates: one line, exit 1 (a stranger's certificate is
    # refused by connect, tested above, whose message the CLI prints).
    assert_fails(run_cli("info", scheduler=address), 1, "speaks TLS")
    # Half the options is a usage error (exit 2).
    result = run_cli("info", "--tls-ca-file", files["ca"], scheduler=address)
    assert result.returncode == 2 and "missing: --tls-cert, --tls-key" in result.stderr
