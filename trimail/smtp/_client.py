"""`ClientConnection`: the sans-IO ESMTP client engine (RFC 5321 and extensions).

The driver (the outbound queue runner) asks the engine for the bytes of each command,
writes them, feeds what the server sends back into ``receive_data`` and takes one event
per reply from ``next_event``. No I/O, clock or randomness.
"""

from __future__ import annotations

import base64
from typing import Literal

from trimail.mail.address import Mailbox, ReversePath
from trimail.smtp._client_core import ClientCore, Sent
from trimail.smtp._client_events import Command
from trimail.smtp._client_extensions import Extensions
from trimail.smtp._client_render import (
    DotStuffer,
    Parameters,
    auth_command,
    line,
    needs_smtputf8,
    render_parameters,
    render_path,
    stuff_message,
)
from trimail.smtp._client_state import AFTER_FAILED_BDAT, SEND_MOVES, ClientState, Move
from trimail.smtp._reply_parse import protocol_error
from trimail.smtp.errors import LocalProtocolError

_S = ClientState


class ClientConnection(ClientCore):
    """One client side of an SMTP connection, sans I/O (h11 style).

    Typical driver loop (the queue runner does this over Trio streams)::

        conn = ClientConnection(ClientConfig(local_hostname="out.example.org"))
        event = next_reply()                 # Greeting: expect 220
        write(conn.send_ehlo())
        event = next_reply()                 # EhloResult; on 5xx: send_helo()
        write(conn.send_mail(sender, [("SIZE", str(len(msg)))])
              + b"".join(conn.send_rcpt(r) for r in recipients)
              + conn.send_data())            # pipelined if conn.pipelining
        ...                                  # one CommandReply per command, in order
        write(conn.send_message(msg))        # after CommandReply("DATA", 354)

    where ``next_reply`` calls ``next_event()`` and, on `NEED_DATA`, feeds
    ``receive_data(read())`` (``b""`` at EOF) and asks again.

    Every reply is one event, matched in order to the commands written (RFC 2920):
    `Greeting`, `EhloResult`, `AuthChallenge` (334), `CommandReply`, or
    `ServiceClosing` for a 421 when nothing was pending. A 421 closes the engine
    (RFC 5321 §3.8) and `ConnectionClosed` follows, as after QUIT's reply and EOF.

    Errors: ``next_event`` raises `RemoteProtocolError` when the server broke the
    protocol (then close the connection; ``.reply`` is a 451 4.5.0 to record as the
    delivery attempt's temporary failure); it is raised again on every later call. A
    command that is illegal now raises `LocalProtocolError`, and the state is unchanged.

    Attributes:
        config: our name and the limits.
    """

    # --- commands out: session ---------------------------------------------------------

    def send_ehlo(self) -> bytes:
        """``EHLO local_hostname`` (RFC 5321 §4.1.1.1); its reply is an `EhloResult`."""
        new = self._check("EHLO")
        return self._record("EHLO", new, line(f"EHLO {self.config.local_hostname}"))

    def send_helo(self) -> bytes:
        """``HELO local_hostname``, for servers that refuse EHLO (RFC 5321 §3.2)."""
        new = self._check("HELO")
        return self._record("HELO", new, line(f"HELO {self.config.local_hostname}"))

    def send_starttls(self) -> bytes:
        """``STARTTLS`` (RFC 3207 §4); after its 220, handshake and ``start_tls_done()``.

        Raises:
            LocalProtocolError: not in READY, or TLS is already active.
        """
        new = self._check("STARTTLS")
        if self._tls_active:
            raise LocalProtocolError("TLS is already active (RFC 3207 §4.2)")
        return self._record("STARTTLS", new, b"STARTTLS\r\n")

    def start_tls_done(self) -> None:
        """The TLS handshake after STARTTLS succeeded: start over in `ClientState.INITIAL`.

        Everything learnt before is forgotten (extensions, AUTH), so EHLO must be sent
        again (RFC 3207 §4.2).

        Raises:
            LocalProtocolError: not in `ClientState.STARTTLS`.
            RemoteProtocolError: the server sent bytes after its 220 in plaintext
                (response injection, RFC 3207 §4.2): they are discarded and the engine
                is closed.
        """
        if self._state is not _S.STARTTLS:
            raise LocalProtocolError(f"start_tls_done() in state {self._state.name}")
        if self._buf:
            self._fail(protocol_error("bytes after the 220 to STARTTLS", status="4.7.0"))
        self._tls_active = True
        self._extensions = Extensions()
        self._authenticated = False
        self._new_transaction()
        self._state = _S.INITIAL

    def send_auth(self, mechanism: str, initial_response: bytes | None = None) -> bytes:
        """``AUTH mechanism [initial-response]`` (RFC 4954 §4).

        Args:
            mechanism: a SASL mechanism from ``extensions.auth``, e.g. ``"PLAIN"``.
            initial_response: the client's first message (sent base64-encoded; ``b""``
                as ``=``), or None to wait for the server's 334.

        Raises:
            LocalProtocolError: not in READY (AUTH is not allowed in a transaction),
                already authenticated, a bad mechanism name, or a line over 512 octets.
        """
        new = self._check("AUTH")
        if self._authenticated:
            raise LocalProtocolError("already authenticated (RFC 4954 §4)")
        return self._record("AUTH", new, auth_command(mechanism, initial_response))

    def send_auth_response(self, data: bytes) -> bytes:
        """Answer an `AuthChallenge` with *data*, base64-encoded (RFC 4954 §4).

        Raises:
            LocalProtocolError: no 334 is waiting for an answer.
        """
        new = self._check("AUTH-RESPONSE")
        return self._record("AUTH", new, base64.b64encode(data) + b"\r\n")

    def send_auth_cancel(self) -> bytes:
        """Cancel the AUTH exchange with ``*`` (RFC 4954 §4); the server answers 501."""
        new = self._check("AUTH-RESPONSE")
        return self._record("AUTH", new, b"*\r\n")

    def send_rset(self) -> bytes:
        """``RSET`` (RFC 5321 §4.1.1.5): abort the transaction."""
        new = self._check("RSET")
        self._new_transaction()
        self._needs_rset = False
        return self._record("RSET", new, b"RSET\r\n")

    def send_noop(self) -> bytes:
        """``NOOP`` (RFC 5321 §4.1.1.9)."""
        return self._record("NOOP", self._check("NOOP"), b"NOOP\r\n")

    def send_quit(self) -> bytes:
        """``QUIT`` (RFC 5321 §4.1.1.10); close the connection after its reply."""
        return self._record("QUIT", self._check("QUIT"), b"QUIT\r\n")

    def send_failed(self) -> None:
        """Tell the engine the transport failed (write error, cancellation): it closes."""
        self._close()

    # --- commands out: the mail transaction ------------------------------------------

    def send_mail(self, reverse_path: ReversePath, parameters: Parameters = ()) -> bytes:
        """``MAIL FROM:<reverse-path> [parameters]`` (RFC 5321 §4.1.1.2).

        Args:
            reverse_path: the sender, or ``NULL_PATH`` for bounces.
            parameters: e.g. ``[("SIZE", "1234"), ("BODY", "8BITMIME"), ("SMTPUTF8",
                None), ("RET", "HDRS")]``; the caller checks ``extensions`` first.

        Raises:
            LocalProtocolError: not in READY (or a BDAT refusal awaits RSET), a
                malformed path or parameter, SMTPUTF8 not advertised while the
                parameter is given, or a non-ASCII reverse-path without the SMTPUTF8
                parameter (RFC 6531 §3.4; see `needs_smtputf8`).
        """
        new = self._check("MAIL")
        smtputf8 = any(keyword.upper() == "SMTPUTF8" for keyword, _ in parameters)
        if smtputf8 and not self._extensions.smtputf8:
            raise LocalProtocolError("SMTPUTF8 was not advertised (RFC 6531 §3.4)")
        if needs_smtputf8(reverse_path) and not smtputf8:
            raise LocalProtocolError(
                f"non-ASCII reverse-path {reverse_path} needs the SMTPUTF8 parameter "
                "(RFC 6531 §3.4)"
            )
        path = render_path(reverse_path, sender=True)
        data = line(f"MAIL FROM:{path}{render_parameters(parameters)}")
        self._new_transaction()
        self._smtputf8 = smtputf8
        return self._record("MAIL", new, data)

    def send_rcpt(self, forward_path: Mailbox, parameters: Parameters = ()) -> bytes:
        """``RCPT TO:<forward-path> [parameters]`` (RFC 5321 §4.1.1.3).

        May be written before MAIL's reply (PIPELINING); the `CommandReply` carries
        *forward_path*, so each recipient's fate is known.

        Args:
            forward_path: the recipient.
            parameters: e.g. ``[("NOTIFY", "FAILURE,DELAY"), ("ORCPT", "rfc822;a@b")]``
                (RFC 3461 §4).

        Raises:
            LocalProtocolError: no MAIL written (or it was refused), a malformed path
                or parameter, or a non-ASCII path when the transaction's MAIL had no
                SMTPUTF8 parameter.
        """
        new = self._check("RCPT")
        if needs_smtputf8(forward_path) and not self._smtputf8:
            raise LocalProtocolError(
                f"non-ASCII forward-path {forward_path} needs SMTPUTF8 on MAIL (RFC 6531 §3.4)"
            )
        path = render_path(forward_path, sender=False)
        data = line(f"RCPT TO:{path}{render_parameters(parameters)}")
        return self._record("RCPT", new, data, forward_path=forward_path)

    def send_data(self) -> bytes:
        """``DATA`` (RFC 5321 §4.1.1.4); write the content only after its 354.

        Raises:
            LocalProtocolError: no RCPT written in this transaction, or BDAT used.
        """
        new = self._check("DATA")
        if self._body == "BDAT":
            raise LocalProtocolError("DATA after BDAT in one transaction (RFC 3030 §3)")
        self._body = "DATA"
        return self._record("DATA", new, b"DATA\r\n")

    def send_message(self, content: bytes) -> bytes:
        """The whole message after the 354: dot-stuffed, then the end of data.

        A dot is doubled at the start of each line (RFC 5321 §4.5.2), CRLF is added
        if *content* does not end with one, and ``.`` CRLF ends it; empty content is
        just ``.`` CRLF. The reply comes as ``CommandReply(command="DATA-END")``.

        Args:
            content: the message octets (RFC 5322), as stored.

        Raises:
            LocalProtocolError: no 354 received, or ``send_message_chunk`` was used.
        """
        new = self._check("DATA-END")
        if self._content().started:
            raise LocalProtocolError("content already started: finish with end_message()")
        self._stuffer = None
        return self._record("DATA-END", new, stuff_message(content))

    def send_message_chunk(self, data: bytes) -> bytes:
        """A piece of a large message after the 354, dot-stuffed; any split is fine.

        Raises:
            LocalProtocolError: no 354 received.
        """
        self._check("CONTENT")
        return self._content().feed(data)

    def end_message(self) -> bytes:
        """End the content sent with ``send_message_chunk`` (``[CRLF] . CRLF``).

        Raises:
            LocalProtocolError: no 354 received.
        """
        new = self._check("DATA-END")
        data = self._content().end()
        self._stuffer = None
        return self._record("DATA-END", new, data)

    def send_bdat(self, chunk: bytes, last: bool = False) -> bytes:
        """``BDAT size [LAST]`` and the chunk, as is (RFC 3030 §2: no dot-stuffing).

        Each chunk gets a `CommandReply` (``"BDAT"``, or ``"BDAT-LAST"`` for the last,
        whose reply is the message's fate). After a refused chunk, LAST or not, only
        RSET, NOOP, QUIT, EHLO or HELO may follow until RSET (RFC 3030 §2).

        Raises:
            LocalProtocolError: CHUNKING not advertised, no RCPT written, DATA used in
                this transaction, or a refused chunk not yet followed by RSET.
        """
        move: Literal["BDAT", "BDAT-LAST"] = "BDAT-LAST" if last else "BDAT"
        new = self._check(move)
        if not self._extensions.chunking:
            raise LocalProtocolError("BDAT needs CHUNKING (RFC 3030 §2)")
        if self._body == "DATA":
            raise LocalProtocolError("BDAT after DATA in one transaction (RFC 3030 §3)")
        self._body = "BDAT"
        head = f"BDAT {len(chunk)} LAST" if last else f"BDAT {len(chunk)}"
        return self._record(move, new, line(head) + chunk)

    # --- internals -------------------------------------------------------------------

    def _check(self, move: Move) -> ClientState:
        """Return the state after writing *move*, or raise `LocalProtocolError`."""
        state = self._state
        if state in (_S.CLOSED, _S.QUIT):
            raise LocalProtocolError(f"{move}: the connection is closed or QUIT was sent")
        new = SEND_MOVES.get((state, move))
        if new is None:
            raise LocalProtocolError(f"{move} is not allowed in state {state.name}")
        if self.must_wait:
            waiting = self._pending[-1].command
            raise LocalProtocolError(f"{move} must wait for the reply to {waiting} (RFC 2920)")
        if self._needs_rset and move not in AFTER_FAILED_BDAT:
            raise LocalProtocolError(f"{move} after a refused BDAT: send RSET first (RFC 3030 §2)")
        return new

    def _record(
        self, command: Command, new: ClientState, data: bytes, forward_path: Mailbox | None = None
    ) -> bytes:
        self._pending.append(Sent(command, forward_path, self._transaction))
        self._state = new
        return data

    def _content(self) -> DotStuffer:
        if self._stuffer is None:  # only in DATA, which always has one
            raise LocalProtocolError("no message content expected")
        return self._stuffer
