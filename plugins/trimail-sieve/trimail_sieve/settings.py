"""The ``[plugin.sieve]`` config table."""

from __future__ import annotations

import attrs

TABLE = "sieve"

MAX_SCRIPT_BYTES_CEILING = 1024 * 1024  # a Sieve script is hand-written; 1 MiB is plenty


def _script_bytes(_inst: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if not 1024 <= value <= MAX_SCRIPT_BYTES_CEILING:
        raise ValueError(
            f"max_script_bytes: {value} is outside 1024..{MAX_SCRIPT_BYTES_CEILING} octets"
        )


def _actions(_inst: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 1000:
        raise ValueError(f"max_actions: {value} is outside 1..1000")


def _redirects(_inst: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"max_redirects: {value} is outside 0..100 (0 forbids redirect)")


def _days(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 3650:  # RFC 5230 §4.1: at least one day
        raise ValueError(f"{attribute.name}: {value} is outside 1..3650 days")


@attrs.frozen(kw_only=True)
class SieveSettings:
    """The ``[plugin.sieve]`` table.

    Attributes:
        max_script_bytes: largest script accepted (``trimail sieve put``) and run, in
            octets (default 64 KiB).
        max_actions: most actions one run may take (keep, fileinto, discard, reject,
            redirect, vacation, setflag/addflag/removeflag); one more is a runtime error, which
            means the implicit keep (RFC 5228 §2.10.6).
        max_redirects: most distinct addresses one run may ``redirect`` to (Pigeonhole's
            ``sieve_max_redirects``, default 4); one more is a runtime error (implicit
            keep, nothing sent). 0 forbids ``redirect``: such scripts are refused.
        vacation_min_days: the smallest ``:days`` honoured (RFC 5230 §4.1: at least 1);
            smaller values are raised to it.
        vacation_max_days: the largest ``:days`` honoured; larger values are lowered.
    """

    max_script_bytes: int = attrs.field(default=64 * 1024, validator=_script_bytes)
    max_actions: int = attrs.field(default=32, validator=_actions)
    max_redirects: int = attrs.field(default=4, validator=_redirects)
    vacation_min_days: int = attrs.field(default=1, validator=_days)
    vacation_max_days: int = attrs.field(default=60, validator=_days)

    def __attrs_post_init__(self) -> None:
        if self.vacation_min_days > self.vacation_max_days:
            raise ValueError(
                f"vacation_min_days ({self.vacation_min_days}) is larger than "
                f"vacation_max_days ({self.vacation_max_days})"
            )
