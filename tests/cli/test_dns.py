"""``trimail dkim generate`` and ``trimail dns records``, run as a user would."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.mailauth.roundtrip import parse_zone, sign_and_verify, txt_strings
from trimail.mailauth import load_private_key_pem
from trimail.testing.process import run_cli, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "trimail.toml", tmp_path / "data", hostname="mail.example.org")


def ok(config: Path, *args: str) -> str:
    done = run_cli(config, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def fails(config: Path, *args: str) -> str:
    done = run_cli(config, *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("trimail: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("args", "selector"),
    [((), "mail"), (("--algorithm", "ed25519", "--selector", "ed"), "ed")],
)
def test_generate_writes_a_private_key_and_prints_a_record_that_verifies(
    config: Path, tmp_path: Path, args: tuple[str, ...], selector: str
) -> None:
    if "ed25519" in args:
        pytest.importorskip("nacl", reason="dkimpy signs ed25519 with PyNaCl (dkimpy[ed25519])")
    out = ok(config, "dkim", "generate", "example.org", *args)
    key_path = tmp_path / "data" / "dkim" / "example.org" / f"{selector}.key"
    assert f"; private key: {key_path}\n" in out
    assert _mode(key_path) == 0o600
    assert _mode(key_path.parent) == 0o700 and _mode(key_path.parent.parent) == 0o700
    strings = txt_strings(parse_zone(out, "example.org."), f"{selector}._domainkey.example.org.")
    assert all(len(s) <= 255 for s in strings)
    key = load_private_key_pem(key_path.read_bytes())
    assert sign_and_verify(key, selector, "example.org", b"".join(strings))


def test_generate_keysize_and_idn(config: Path, tmp_path: Path) -> None:
    out = ok(config, "dkim", "generate", "Exämple.ORG.", "--keysize", "1024", "--selector", "S1")
    key_path = tmp_path / "data" / "dkim" / "xn--exmple-cua.org" / "s1.key"
    assert load_private_key_pem(key_path.read_bytes()).key_size == 1024  # type: ignore[union-attr]
    assert "s1._domainkey.xn--exmple-cua.org. IN TXT (" in out


def test_generate_refuses_to_overwrite_without_force(config: Path, tmp_path: Path) -> None:
    ok(config, "dkim", "generate", "example.org", "--keysize", "1024")
    key_path = tmp_path / "data" / "dkim" / "example.org" / "mail.key"
    first = key_path.read_bytes()
    assert "exists; use --force" in fails(config, "dkim", "generate", "example.org")
    assert key_path.read_bytes() == first
    ok(config, "dkim", "generate", "example.org", "--keysize", "1024", "--force")
    assert key_path.read_bytes() != first
    assert _mode(key_path) == 0o600
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["mail.key"]  # no temp files


@pytest.mark.parametrize("domain", ["../etc", "a/b.org", "-x.org", "ex ample.org", "", ".."])
def test_generate_refuses_bad_domains(config: Path, tmp_path: Path, domain: str) -> None:
    assert "bad domain" in fails(config, "dkim", "generate", "--", domain)
    assert not (tmp_path / "data" / "dkim").exists()


@pytest.mark.parametrize("selector", ["../x", "a/b", "a.b", "a_b", "", "-a", "x" * 64])
def test_generate_refuses_bad_selectors(config: Path, tmp_path: Path, selector: str) -> None:
    assert "bad selector" in fails(
        config, "dkim", "generate", "example.org", f"--selector={selector}"
    )
    assert not (tmp_path / "data" / "dkim").exists()


def test_generate_refuses_bad_key_sizes(config: Path) -> None:
    assert "bad --keysize 512" in fails(config, "dkim", "generate", "x.org", "--keysize", "512")
    assert "bad --keysize 8192" in fails(config, "dkim", "generate", "x.org", "--keysize", "8192")
    assert "--keysize is for rsa" in fails(
        config, "dkim", "generate", "x.org", "--algorithm", "ed25519", "--keysize", "2048"
    )


def test_generate_reports_an_unwritable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    config = write_config(tmp_path / "trimail.toml", tmp_path / "file" / "data")
    assert "cannot write" in fails(config, "dkim", "generate", "example.org", "--keysize", "1024")


def test_dns_records_with_addresses_and_key(config: Path) -> None:
    ok(config, "dkim", "generate", "example.org", "--keysize", "1024")
    generated = ok(config, "dkim", "generate", "other.org", "--keysize", "1024")
    out = ok(config, "dns", "records", "example.org", "--ip", "192.0.2.7", "--ip", "2001:db8::25")
    zone = parse_zone(out, "example.org.")
    assert [r.to_text() for r in zone.find_rdataset("mail.example.org.", "A")] == ["192.0.2.7"]
    assert [r.to_text() for r in zone.find_rdataset("mail.example.org.", "AAAA")] == [
        "2001:db8::25"
    ]
    assert [r.to_text() for r in zone.find_rdataset("example.org.", "MX")] == [
        "10 mail.example.org."
    ]
    record = b"".join(txt_strings(zone, "mail._domainkey.example.org."))
    assert record.startswith(b"v=DKIM1; k=rsa; p=")
    other = b"".join(txt_strings(parse_zone(generated, "other.org."), "mail._domainkey.other.org."))
    assert record != other
    assert "; 7.2.0.192.in-addr.arpa. IN PTR mail.example.org." in out
    assert "_imaps._tcp.example.org. IN SRV 0 1 993 mail.example.org." in out


def test_dns_records_without_key_or_addresses(config: Path) -> None:
    out = ok(config, "dns", "records", "Exämple.org")
    zone = parse_zone(out, "xn--exmple-cua.org.")
    assert zone.get_node("mail._domainkey.xn--exmple-cua.org.") is None
    assert "run\n;   trimail dkim generate xn--exmple-cua.org --selector mail" in out
    assert "<this server's IPv4 address>" in out


def test_dns_records_errors(config: Path, tmp_path: Path) -> None:
    assert "bad --ip '300.1.1.1'" in fails(config, "dns", "records", "x.org", "--ip", "300.1.1.1")
    assert "bad domain" in fails(config, "dns", "records", "../x")
    key = tmp_path / "data" / "dkim" / "x.org" / "mail.key"
    key.parent.mkdir(parents=True)
    key.write_text("garbage")
    assert "not a usable PEM private key" in fails(config, "dns", "records", "x.org")
