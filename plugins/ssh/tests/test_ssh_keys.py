"""Users' key pairs: made by the rosetta_user_created hook, encrypted with the platform secret."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import rosetta_ssh.plugin
from rosetta_core.errors import AuthenticationFailed, ConflictError
from rosetta_core.kernel import Kernel
from rosetta_core.model import KeyPair, User
from rosetta_core.users import create_user
from rosetta_core.validators import ssh_fingerprint
from rosetta_ssh.keys import generate_key_pair, load_private_key, public_key_fingerprint, user_key_pair

PUBLIC_LINE = re.compile(r"^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+={0,2} rosetta:alice$")


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> Kernel:
    return rosetta_kernel_factory({"ssh": rosetta_ssh.plugin})


def alice_pair(kernel: Kernel) -> KeyPair:
    create_user(kernel, "alice")
    pair = user_key_pair(kernel, "alice")
    assert pair is not None
    return pair


def test_new_user_gets_a_key_pair(kernel: Kernel) -> None:
    pair = alice_pair(kernel)
    assert (pair.owner, pair.name) == ("alice", "default")
    assert PUBLIC_LINE.match(pair.public_key)
    path = Path(pair.private_key_path)
    assert path == kernel.config.keys_path / "alice_ed25519" and path.is_absolute()
    assert kernel.store.all(KeyPair) == [pair]


def test_private_key_file_and_folder_are_private(kernel: Kernel) -> None:
    path = Path(alice_pair(kernel).private_key_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["alice_ed25519"]  # no temporary file left


def test_private_key_is_encrypted_with_the_platform_secret(kernel: Kernel) -> None:
    pair = alice_pair(kernel)
    data = Path(pair.private_key_path).read_bytes()
    assert data.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    with pytest.raises(TypeError, match="password"):
        serialization.load_ssh_private_key(data, None)
    with pytest.raises(ValueError):
        serialization.load_ssh_private_key(data, b"not the secret")
    with pytest.raises(AuthenticationFailed, match="cannot be decrypted"):
        load_private_key(pair.private_key_path, "not the secret")
    with pytest.raises(AuthenticationFailed, match="encrypted"):
        load_private_key(pair.private_key_path, None)
    key = load_private_key(pair.private_key_path, kernel.secret)
    assert isinstance(key, paramiko.Ed25519Key)
    assert f"{key.get_name()} {key.get_base64()}" == " ".join(pair.public_key.split()[:2])
    assert public_key_fingerprint(pair.public_key) == ssh_fingerprint(key.get_base64())


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_openssh_reads_the_key_with_the_secret(kernel: Kernel) -> None:
    pair = alice_pair(kernel)
    done = subprocess.run(
        ["ssh-keygen", "-y", "-P", kernel.secret, "-f", pair.private_key_path],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split()[:2] == pair.public_key.split()[:2]


def test_users_get_different_keys(kernel: Kernel) -> None:
    create_user(kernel, "alice")
    create_user(kernel, "bob")
    alice, bob = user_key_pair(kernel, "alice"), user_key_pair(kernel, "bob")
    assert alice is not None and bob is not None and alice.public_key.split()[1] != bob.public_key.split()[1]
    assert user_key_pair(kernel, "carol") is None


def test_a_second_default_key_pair_is_refused_and_the_first_file_kept(kernel: Kernel) -> None:
    pair = alice_pair(kernel)
    before = Path(pair.private_key_path).read_bytes()
    with pytest.raises(ConflictError, match="already has a key pair"):
        generate_key_pair(kernel, kernel.store.get(User, "alice"))
    assert Path(pair.private_key_path).read_bytes() == before
    assert [p.name for p in Path(pair.private_key_path).parent.iterdir()] == ["alice_ed25519"]


def test_unencrypted_and_other_key_types_load(tmp_path: Path) -> None:
    path = tmp_path / "ecdsa"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    assert load_private_key(path, "unused: the file is not encrypted").get_name() == "ecdsa-sha2-nistp256"
    pem = tmp_path / "pem"
    pem.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret-s3cret"),
        )
    )
    assert load_private_key(pem, "s3cret-s3cret").get_name() == "ssh-ed25519"


def test_unreadable_or_bogus_key_files(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationFailed, match="cannot read the private key"):
        load_private_key(tmp_path / "missing", None)
    bogus = tmp_path / "bogus"
    bogus.write_text("not a key\n")
    with pytest.raises(AuthenticationFailed, match="not an OpenSSH or PEM private key"):
        load_private_key(bogus, None)
    with pytest.raises(AuthenticationFailed, match="not an OpenSSH public key"):
        public_key_fingerprint("ssh-ed25519")
