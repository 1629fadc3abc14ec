from __future__ import annotations

from pathlib import Path

from trimail.server.spool import MessageBuffer, clean_spool


def test_small_content_stays_in_memory(tmp_path: Path) -> None:
    buffer = MessageBuffer(tmp_path, spill_bytes=10)
    buffer.append(b"hello")
    assert buffer.content() == b"hello"
    assert list(tmp_path.iterdir()) == []


def test_large_content_spills_and_discard_removes_the_file(tmp_path: Path) -> None:
    buffer = MessageBuffer(tmp_path, spill_bytes=10)
    for piece in (b"0123456", b"789abc", b"def"):
        buffer.append(piece)
    content = buffer.content()
    assert isinstance(content, Path) and content.parent == tmp_path
    assert content.read_bytes() == b"0123456789abcdef" == buffer.read_bytes()
    assert buffer.size == 16
    buffer.discard()
    buffer.discard()
    assert list(tmp_path.iterdir()) == []
    buffer.append(b"again")  # reusable for the next transaction
    assert buffer.content() == b"again"


def test_clean_spool_removes_leftovers(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "msg-left-by-crash").write_bytes(b"x")
    clean_spool(spool)
    assert list(spool.iterdir()) == []
