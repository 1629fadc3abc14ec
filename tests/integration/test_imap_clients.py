"""Real IMAP clients against ``trimail serve``: curl and mbsync (isync)."""

from __future__ import annotations

import imaplib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD
from tests.integration.test_imap import MESSAGE, send
from trimail.testing.process import ServerProcess

USER = "alice@example.org"


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-s", "-S", "--max-time", "30", "-u", f"{USER}:{PASSWORD}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_lists_and_fetches(server: ServerProcess) -> None:
    send(server)
    base = f"imap://127.0.0.1:{server.imap_port}"
    listed = curl(f"{base}/")
    assert listed.returncode == 0, listed.stderr
    assert '"/" INBOX' in listed.stdout and "\\Sent" in listed.stdout
    fetched = curl(f"{base}/INBOX;UID=1")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.replace("\r\n", "\n").endswith(MESSAGE.decode().replace("\r\n", "\n"))
    searched = curl(f"{base}/INBOX?SUBJECT%20lunch")
    assert searched.returncode == 0 and "SEARCH 1" in searched.stdout
    over_tls = curl("--ssl-reqd", "-k", f"{base}/INBOX;UID=1")
    assert over_tls.returncode == 0, over_tls.stderr
    implicit = curl("-k", f"imaps://127.0.0.1:{server.imaps_port}/INBOX;UID=1")
    assert implicit.returncode == 0, implicit.stderr
    wrong = subprocess.run(
        ["curl", "-s", "-u", f"{USER}:nope", f"{base}/"], capture_output=True, timeout=60
    )
    assert wrong.returncode == 67  # CURLE_LOGIN_DENIED


def _mbsync(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) not installed")
def test_mbsync_two_way(server: ServerProcess, tmp_path: Path) -> None:
    send(server)
    send(server, MESSAGE.replace(b"Lunch", b"Breakfast"))
    local = tmp_path / "mail"
    local.mkdir()
    config = tmp_path / "mbsyncrc"
    config.write_text(
        f"IMAPAccount test\nHost 127.0.0.1\nPort {server.imaps_port}\nUser {USER}\n"
        f'Pass "{PASSWORD}"\nTLSType IMAPS\n'
        f"CertificateFile {server.data_dir / 'tls' / 'self-signed.crt'}\n\n"
        "IMAPStore remote\nAccount test\n\n"
        f"MaildirStore local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\n"
        "Channel c\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\n"
        "SyncState *\n"
    )
    first = _mbsync(config)
    if "TLSType" in first.stderr:  # isync < 1.5 calls it SSLType
        config.write_text(config.read_text().replace("TLSType IMAPS", "SSLType IMAPS"))
        first = _mbsync(config)
    assert first.returncode == 0, first.stderr
    inbox = sorted((local / "INBOX" / "new").iterdir()) + sorted(
        (local / "INBOX" / "cur").iterdir()
    )
    assert len(inbox) == 2
    assert {p.read_bytes().split(b"Subject: ")[1].split(b"\n")[0].rstrip() for p in inbox} == {
        b"Lunch on Friday",
        b"Breakfast on Friday",
    }
    for folder in ("Sent", "Trash", "Archive"):
        assert (local / folder).is_dir()
    # the user reads and flags one message locally, and files a new folder
    cur = local / "INBOX" / "cur"
    cur.mkdir(exist_ok=True)
    target = inbox[0]
    target.rename(cur / (target.name.split(":")[0] + ":2,FS"))
    (local / "Projects" / "cur").mkdir(parents=True)
    (local / "Projects" / "new").mkdir()
    (local / "Projects" / "tmp").mkdir()
    second = _mbsync(config)
    assert second.returncode == 0, second.stderr
    client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    try:
        client.login(USER, PASSWORD)
        assert client.select("INBOX", readonly=True)[0] == "OK"
        _typ, data = client.search(None, "FLAGGED", "SEEN")
        assert len(data[0].split()) == 1
        assert client.select("Projects")[0] == "OK"
    finally:
        client.logout()
    third = _mbsync(config)  # nothing changed: a clean no-op run
    assert third.returncode == 0, third.stderr


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed")
def test_fetchmail_over_imap(server: ServerProcess, tmp_path: Path) -> None:
    """fetchmail downloads new mail over IMAP, marks it seen, and a second run gets none."""
    send(server)
    send(server, MESSAGE.replace(b"Lunch", b"Tea"))
    mbox = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll 127.0.0.1 service {server.imap_port} protocol imap auth password\n"
        f'  user "{USER}" password "{PASSWORD}"\n'
        f'  mda "cat >> {mbox}" sslproto "" keep\n'
    )
    rc.chmod(0o600)

    def fetch() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["fetchmail", "-f", str(rc), "--nodetach", "--nosyslog", "-v"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )

    first = fetch()
    assert first.returncode == 0, first.stdout + first.stderr
    got = mbox.read_bytes()
    assert b"Subject: Lunch on Friday" in got and b"Subject: Tea on Friday" in got
    second = fetch()
    assert second.returncode == 1, second.stdout  # 1: no new mail
    client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    try:
        client.login(USER, PASSWORD)
        client.select("INBOX", readonly=True)
        assert client.search(None, "SEEN")[1] == [b"1 2"]
    finally:
        client.logout()
