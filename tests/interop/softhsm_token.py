"""A private SoftHSM2 token for a pytest session, made by scripts/softhsm-init.sh (which installs
SoftHSM2 and OpenSC when missing). Shared by the interoperability and the Python package tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Token:
    def __init__(self, root: Path):
        proc = subprocess.run([REPO / "scripts" / "softhsm-init.sh", root], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=300)
        assert proc.returncode == 0, f"softhsm-init.sh failed:\n{proc.stdout}{proc.stderr}"
        env = dict(line.split("=", 1) for line in (root / "env").read_text().splitlines())
        self.conf = env["SOFTHSM2_CONF"]
        self.module = env["MODELSEAL_PKCS11_MODULE"]
        self.token = env["MODELSEAL_TEST_TOKEN"]
        self.pin_file = Path(env["MODELSEAL_TEST_PIN_FILE"])
        # The PKCS#11 library reads SOFTHSM2_CONF when it is loaded: in this process and children.
        os.environ["SOFTHSM2_CONF"] = self.conf

    def uri(self, obj: str, pin_file: Path | None = None) -> str:
        return (f"pkcs11:token={self.token};object={obj}?module-path={self.module}"
                f"&pin-source=file:{pin_file or self.pin_file}")

    def pin(self) -> str:
        return self.pin_file.read_text().strip()
