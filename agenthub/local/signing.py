"""The local user pool's signing key: generated once per state folder, kept there, readable by its owner only.

moto signs its user pools' tokens with one RSA key shipped inside its package and serves that
key's public half as every pool's JWKS. A local cloud trusting it would accept a token anyone with
moto installed can mint. So each local cloud signs with a key of its own, made the first time a
state folder is used and kept beside its `local.json` (mode 0600), and the emulator serves that
key, and no other, as the pool's JWKS (`/<pool id>/.well-known/jwks.json`), which is where the
local API's authorizer looks for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey

KEY_FILE = "cognito-signing-key.json"
PRIVATE_MODE = 0o600
KEY_BITS = 2048  # what Cognito's own user pool keys use


def private_file(path: Path, make: Callable[[], str]) -> str:
    """The text of `path`, a file readable and writable by its owner only, made by `make` if missing.

    A new file gets its mode from open(2) itself, so it is never readable by others, not even
    briefly; one whose mode was loosened since (a restore, a careless chmod) is tightened again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        text = make()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        except FileExistsError:
            pass  # made meanwhile by another process: read theirs
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(text)
            return text
    os.chmod(path, PRIVATE_MODE)
    return path.read_text(encoding="utf-8")


def load_signing_key(state_dir: Path) -> RSAKey:
    """The state folder's signing key, made on first use."""
    made = private_file(
        state_dir / KEY_FILE,
        lambda: json.dumps(RSAKey.generate_key(KEY_BITS, auto_kid=True).as_dict(private=True)),
    )
    return RSAKey.import_key(json.loads(made))


def public_jwks(key: RSAKey) -> dict[str, Any]:
    """The JWKS a user pool serves: the public half only, marked for RS256 signatures."""
    return {"keys": [{**key.as_dict(private=False), "alg": "RS256", "use": "sig"}]}
