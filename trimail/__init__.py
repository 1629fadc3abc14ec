"""trimail: a complete mail server in one Python process.

SMTP (MX and submission), IMAP, POP3, SPF/DKIM/DMARC, with sans-IO protocol engines
(`trimail.smtp`, later `trimail.imap`, `trimail.pop3`) that other programs can embed.
"""

__version__ = "0.1.0"
