"""Embed trimail's sans-IO SMTP engine in a plain blocking socket server (no Trio).

Run it: ``python docs/examples/blocking_smtp_server.py 127.0.0.1 8025``; every message
for any recipient at example.org is printed. One connection at a time, for clarity.
"""

from __future__ import annotations

import socket
import sys

from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    BadCommand,
    ChunkComplete,
    ConnectionClosed,
    DataCommand,
    Hello,
    Help,
    MailFrom,
    MessageAborted,
    MessageComplete,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    RemoteProtocolError,
    Reset,
    ServerConnection,
    SmtpConfig,
    Verify,
)

OK = Reply(code=250, enhanced_status="2.0.0", text="Ok")


def serve_one(sock: socket.socket, on_message=print) -> None:  # type: ignore[no-untyped-def]
    """Run one SMTP session on a connected socket; call on_message(bytes) per message."""
    conn = ServerConnection(SmtpConfig(hostname="example.org"))
    sock.sendall(conn.send(Reply(code=220, text="example.org ESMTP")))
    content: list[bytes] = []
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:  # fatal: send the reply and hang up
            sock.sendall(conn.send(exc.reply))
            return
        if event is NEED_DATA:
            conn.receive_data(sock.recv(65536))
            continue
        match event:
            case Hello(command="EHLO"):
                reply = conn.ehlo_reply("example.org")
            case Hello() | MailFrom() | ChunkComplete():
                reply = OK
            case RcptTo(forward_path=path):
                ours = path.domain.lower() == "example.org"
                reply = OK if ours else Reply(code=554, enhanced_status="5.7.1", text="No relay")
            case DataCommand():
                reply = Reply(code=354, text="Go ahead")
            case MessageData(data=data):
                content.append(data)
                continue  # no reply owed
            case MessageComplete():
                on_message(b"".join(content))
                content.clear()
                reply = OK
            case MessageAborted(reply=reply) | BadCommand(reply=reply):
                content.clear()
            case Reset(reply=reply) | Noop(reply=reply) | Verify(reply=reply) | Help(reply=reply):
                pass
            case Quit():
                sock.sendall(conn.send(Reply(code=221, text="Bye")))
                return
            case ConnectionClosed():
                return
            case _:
                reply = Reply(code=502, enhanced_status="5.5.1", text="Not implemented")
        sock.sendall(conn.send(reply))


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    with socket.create_server((host, port)) as server:
        while True:
            client, _ = server.accept()
            with client:
                serve_one(client)
