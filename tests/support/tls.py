"""TLS files for throwaway servers, made by the fleet CA's own code
(plugins/action/goalgpt_tls_cert.py): a CA and a certificate for 127.0.0.1 and localhost."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from plugins.action.goalgpt_tls_cert import ensure_cert


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def server_tls(directory: Path, name: str = "server", owner: str | None = None) -> TlsFiles:
    """The CA and `name`'s key and certificate in directory; the key given to `owner`
    (as root: PostgreSQL refuses a key its own user cannot own)."""
    made = ensure_cert(directory, name, ["127.0.0.1", "localhost"])
    files = TlsFiles(Path(made["ca"]), Path(made["cert"]), Path(made["key"]))
    if owner and os.geteuid() == 0:
        user = pwd.getpwnam(owner)
        os.chown(directory, user.pw_uid, user.pw_gid)
        os.chown(files.key, user.pw_uid, user.pw_gid)
    return files
