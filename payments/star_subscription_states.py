"""The Star subscription's states and the moves between them: a pure table (no
database, no clock). payments/star_subscriptions.py applies each move as one UPDATE
conditioned on the state it was read in, so two moves never overwrite each other.

    active   --cancel-->  canceled     (Telegram accepted editUserStarSubscription)
    canceled --resume-->  active       (only while the period is paid: checked in SQL)
    active   --renew--->  active
    canceled --renew--->  canceled     (charged before Telegram accepted the cancel)
    expired  --renew--->  active       (Telegram renewed one the shop thought had lapsed)
    expired  --renew--->  expired      (its first payment was refunded: it never renews again)
    active   --lapse--->  expired      (no renewal within the grace after its period)
    canceled --lapse--->  expired      (its paid period is over)
    active | canceled --end--> expired (its first payment was refunded; a cancel stays recorded)
"""

from __future__ import annotations

from enum import StrEnum

from payments.models import StarSubscription

ACTIVE = StarSubscription.Status.ACTIVE
CANCELED = StarSubscription.Status.CANCELED
EXPIRED = StarSubscription.Status.EXPIRED


class Move(StrEnum):
    CANCEL = "cancel"
    RESUME = "resume"
    RENEW = "renew"
    LAPSE = "lapse"
    END = "end"


TRANSITIONS: dict[tuple[str, Move], str] = {
    (ACTIVE, Move.CANCEL): CANCELED,
    (CANCELED, Move.RESUME): ACTIVE,
    (ACTIVE, Move.RENEW): ACTIVE,
    (CANCELED, Move.RENEW): CANCELED,
    (EXPIRED, Move.RENEW): ACTIVE,
    (ACTIVE, Move.LAPSE): EXPIRED,
    (CANCELED, Move.LAPSE): EXPIRED,
    (ACTIVE, Move.END): EXPIRED,
    (CANCELED, Move.END): EXPIRED,
}


def next_status(status: str, move: Move, *, first_payment_refunded: bool = False) -> str | None:
    """The status after `move`, or None when the move is not allowed from `status`.
    A subscription whose first payment was refunded is over for good: a renewal
    Telegram charged anyway pays a period but does not make it renew again."""
    if move == Move.RENEW and first_payment_refunded and status == EXPIRED:
        return EXPIRED
    return TRANSITIONS.get((status, move))
