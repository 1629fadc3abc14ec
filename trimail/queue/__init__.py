"""The outbound queue: the durable spool, the retry schedule and delivery status
notifications (RFC 3461-3464). Pure and file-level code; the Trio workers that run the
queue live in `trimail.server.queue_runner`."""
