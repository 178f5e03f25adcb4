"""Ansible action (runs on the controller): the fleet's small CA and a service's certificate.

    goalgpt_tls_cert: {name: db-1-postgresql, sans: [10.0.0.31, db-1], days: 365,
                       renew_before_days: 30, renew: false}
    goalgpt_tls_cert: {}     # only the CA (made if missing): its certificate's path

Everything lives in `<goalgpt_secrets_dir>/tls` on the controller (the store of
secrets, 0700): `ca.key` (0600) and `ca.crt`, made on first use unless the operator
put their own there first, and `<name>.key` (0600) / `<name>.crt` for each service.
A certificate is issued when it is missing, names other addresses, was not signed
by this CA, expires within `renew_before_days`, or `renew` is true. Returns the
paths (never a key) and the certificate's expiry; the tasks that call it copy the
files to the host (roles/tls).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

try:
    from ansible.errors import AnsibleActionFail
    from ansible.plugins.action import ActionBase
except ImportError:  # imported outside Ansible (tests, benchmarks)
    AnsibleActionFail = RuntimeError  # type: ignore[misc,assignment]
    ActionBase = object  # type: ignore[misc,assignment]

CA_DAYS = 3650
CA_NAME = "GoalGPT fleet CA"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written whole to a scratch file, then renamed: never half a key or certificate."""
    scratch = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(scratch, mode)
    os.replace(scratch, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_ca(directory: Path, common_name: str = CA_NAME) -> tuple[Path, Path]:
    """The CA's key and certificate in directory, made now if missing (callers hold the lock)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if key_path.exists() and cert_path.exists():
        return key_path, cert_path
    if key_path.exists() or cert_path.exists():
        raise AnsibleActionFail(f"{directory} holds only half a CA (ca.key and ca.crt go together)")
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key_path, cert_path


def _general_names(sans: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in dict.fromkeys(str(s).strip() for s in sans if str(s).strip()):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def needs_issue(
    cert_path: Path, ca_cert_path: Path, sans: Sequence[str], renew_before_days: int
) -> str | None:
    """Why the certificate must be issued again, or None when it may stay."""
    if not cert_path.exists():
        return "missing"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    if cert.issuer != ca.subject:
        return "signed by another CA"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):
        return "signed by another CA"
    found = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if set(map(str, found)) != set(map(str, _general_names(sans))):
        return "other names"
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=renew_before_days):
        return f"expires within {renew_before_days} days"
    return None


def issue(
    directory: Path, name: str, sans: Sequence[str], days: int
) -> tuple[Path, Path, dt.datetime]:
    """A new key and certificate `name` for sans, signed by the CA in directory."""
    ca_key_path, ca_cert_path = directory / "ca.key", directory / "ca.crt"
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    names = _general_names(sans)
    if not names:
        raise AnsibleActionFail(f"certificate {name}: no address or name to put in it")
    key = _new_key()
    common = next((str(n.value) for n in names), name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key_path, cert_path, cert.not_valid_after_utc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One maker of the CA or a certificate at a time (Ansible runs hosts in parallel)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_cert(
    directory: Path,
    name: str,
    sans: Sequence[str],
    days: int = 365,
    renew_before_days: int = 30,
    renew: bool = False,
) -> dict[str, Any]:
    """The CA and certificate `name`, issued when needed, under a lock on directory."""
    with _locked(directory):
        _, ca_cert = ensure_ca(directory)
        cert_path = directory / f"{name}.crt"
        reason = "renewal asked for" if renew else needs_issue(
            cert_path, ca_cert, sans, renew_before_days
        )  # fmt: skip
        if reason:
            issue(directory, name, sans, days)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return {
        "changed": reason is not None,
        "reason": reason or "",
        "ca": str(ca_cert),
        "cert": str(cert_path),
        "key": str(directory / f"{name}.key"),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


class ActionModule(ActionBase):  # type: ignore[misc,valid-type]
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lookup"))
        from goalgpt_secret import store_dir

        store = store_dir(self._templar.template(task_vars.get("goalgpt_secrets_dir")), task_vars)
        directory = store / "tls"
        name, sans = str(args.get("name") or ""), list(args.get("sans") or [])
        if "/" in name or name in ("ca", ".lock"):
            raise AnsibleActionFail(f"goalgpt_tls_cert: {name!r} cannot name a certificate")
        if not name:
            return {**result, **self._ca_only(directory)}
        if self._task.check_mode:
            ca = directory / "ca.crt"
            would = not ca.exists() or needs_issue(
                directory / f"{name}.crt", ca, sans, int(args.get("renew_before_days", 30))
            )
            return {**result, "changed": bool(would or args.get("renew"))}
        found = ensure_cert(
            directory,
            name,
            sans,
            days=int(args.get("days", 365)),
            renew_before_days=int(args.get("renew_before_days", 30)),
            renew=bool(args.get("renew", False)),
        )
        return {**result, **found}

    def _ca_only(self, directory: Path) -> dict[str, Any]:
        ca = directory / "ca.crt"
        if self._task.check_mode or ca.exists():
            return {"changed": not ca.exists(), "ca": str(ca)}
        with _locked(directory):
            ensure_ca(directory)
        return {"changed": True, "ca": str(ca)}
