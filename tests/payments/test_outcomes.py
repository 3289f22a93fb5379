"""The decision of what a charge does (payments/outcomes.py) and the Star subscription's
state machine (payments/star_subscription_states.py): pure functions, tested over every
combination of their inputs' states. No database."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.charges import Charge, Recurring
from payments.models import Payment, StarSubscription
from payments.outcomes import Action, InvoiceState, SubscriptionState, charge_outcome
from payments.star_subscription_states import TRANSITIONS, Move, next_status

ACTIVE, CANCELED, EXPIRED = (StarSubscription.Status.ACTIVE, StarSubscription.Status.CANCELED, "expired")
BUYER, STRANGER = 1001, 2002
GRANTING = (Action.GRANT, Action.START, Action.RENEW)
PAID_STATUSES = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)


def invoice(*, status="pending", charge_id=None, amount=100, purchase_type=Payment.STAR_SUBSCRIPTION):
    return InvoiceState(
        status=status,
        charge_id=charge_id,
        amount=amount,
        currency="XTR",
        purchase_type=purchase_type,
        buyer_telegram_id=BUYER,
        purchase_id="p-1",
    )


def charge(*, charge_id="c-2", amount=100, currency="XTR", recurring=None, payer=BUYER):
    return Charge(
        payload="x", charge_id=charge_id, amount=amount, currency=currency, from_user_id=payer, recurring=recurring
    )


def subscription(status=ACTIVE, amount=100):
    return SubscriptionState(status=status, amount=amount, first_charge_id="c-1")


RENEWAL = Recurring(first=False)


# --- The table: one row per case that matters ---------------------------------------------------

TABLE = [
    # (name, invoice, charge, subscription, other_live, pending) -> (action, review, pending applied, status after)
    ("one-off paid as issued", invoice(purchase_type="subscription"), charge(), None, None, False,
     (Action.GRANT, False, False, None)),
    ("subscription paid as issued", invoice(), charge(recurring=Recurring(first=True)), None, None, False,
     (Action.START, False, False, None)),
    ("subscription next to a live one", invoice(), charge(recurring=Recurring(first=True)), None, "c-0", False,
     (Action.START, True, False, None)),
    ("repeat of the recorded charge", invoice(status="succeeded", charge_id="c-2"), charge(), None, None, True,
     (Action.DUPLICATE, False, False, None)),
    ("refunded before recorded", invoice(), charge(), None, None, True,
     (Action.REFUNDED, False, False, None)),
    ("another amount", invoice(), charge(amount=99), None, None, False,
     (Action.MISMATCH, True, False, None)),
    ("another amount, refunded first", invoice(), charge(amount=99), None, None, True,
     (Action.MISMATCH, True, True, None)),
    ("second charge of a one-off invoice", invoice(status="succeeded", charge_id="c-1", purchase_type="subscription"),
     charge(recurring=RENEWAL), None, None, False, (Action.EXTRA, True, False, None)),
    ("renewal", invoice(status="succeeded", charge_id="c-1"), charge(recurring=RENEWAL), subscription(), None, False,
     (Action.RENEW, False, False, ACTIVE)),
    ("renewal refunded before recorded", invoice(status="succeeded", charge_id="c-1"), charge(recurring=RENEWAL),
     subscription(), None, True, (Action.RENEWAL_REFUNDED, False, False, None)),
    ("renewal of a canceled one", invoice(status="succeeded", charge_id="c-1"), charge(recurring=RENEWAL),
     subscription(CANCELED), None, False, (Action.RENEW, False, False, CANCELED)),
    ("late renewal of a lapsed one", invoice(status="succeeded", charge_id="c-1"), charge(recurring=RENEWAL),
     subscription(EXPIRED), None, False, (Action.RENEW, False, False, ACTIVE)),
    ("late renewal of a lapsed one next to a new one", invoice(status="succeeded", charge_id="c-1"),
     charge(recurring=RENEWAL), subscription(EXPIRED), "c-9", False, (Action.RENEW, True, False, ACTIVE)),
    ("late renewal after the first payment's refund", invoice(status="refunded", charge_id="c-1"),
     charge(recurring=RENEWAL), subscription(EXPIRED), None, False, (Action.RENEW, True, False, EXPIRED)),
    ("renewal with no record", invoice(status="succeeded", charge_id="c-1"), charge(recurring=RENEWAL), None, None,
     True, (Action.EXTRA, True, True, None)),
    ("renewal paid by another user", invoice(status="succeeded", charge_id="c-1"),
     charge(recurring=RENEWAL, payer=STRANGER), subscription(), None, False, (Action.EXTRA, True, False, None)),
    ("renewal of another amount", invoice(status="succeeded", charge_id="c-1"), charge(recurring=RENEWAL, amount=99),
     subscription(), None, False, (Action.EXTRA, True, False, None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "inv", "chg", "sub", "other", "pending", "expected"), TABLE, ids=[r[0] for r in TABLE]
)
def test_the_outcome_table(name, inv, chg, sub, other, pending, expected):
    outcome = charge_outcome(invoice=inv, charge=chg, subscription=sub, other_live=other, pending_refund=pending)

    assert (outcome.action, outcome.review, outcome.apply_pending_refund, outcome.subscription_status) == expected
    assert outcome.reason


# --- Every combination: the rules that hold whatever the states -------------------------------

INVOICE_STATUSES = [choice for choice, _ in Payment.Status.choices]
COMBINATIONS = list(
    itertools.product(
        INVOICE_STATUSES,
        (None, "c-1", "c-2"),  # the invoice's recorded charge: none, another, this one
        ("subscription", Payment.STAR_SUBSCRIPTION),
        (100, 99),  # the charge's amount (the invoice's is 100)
        ("XTR", "USD"),
        (None, Recurring(first=True), RENEWAL),
        (None, BUYER, STRANGER),
        (None, ACTIVE, CANCELED, EXPIRED),
        (None, "c-0"),  # another live subscription of the buyer
        (False, True),  # Telegram's refund of this charge came first
    )
)


def outcome_of(combination):
    status, recorded, purchase_type, amount, currency, recurring, payer, sub_status, other, pending = combination
    inv = invoice(status=status, charge_id=recorded, purchase_type=purchase_type)
    chg = charge(amount=amount, currency=currency, recurring=recurring, payer=payer)
    sub = subscription(sub_status) if sub_status else None
    return (
        inv,
        chg,
        sub,
        charge_outcome(invoice=inv, charge=chg, subscription=sub, other_live=other, pending_refund=pending),
    )


def test_every_combination_is_decided_by_the_rules():
    for combination in COMBINATIONS:
        *_, other, pending = combination
        inv, chg, sub, outcome = outcome_of(combination)
        where = (combination, outcome)
        assert outcome.reason, where
        # a repeat of the recorded charge is a duplicate, and only that
        assert (outcome.action == Action.DUPLICATE) == (inv.charge_id == chg.charge_id), where
        if outcome.action == Action.DUPLICATE:
            continue
        # money Telegram already gave back is never granted, and always booked back
        if pending:
            assert outcome.action not in GRANTING, where
            assert outcome.action in (Action.REFUNDED, Action.RENEWAL_REFUNDED) or outcome.apply_pending_refund, where
        else:
            assert outcome.action not in (Action.REFUNDED, Action.RENEWAL_REFUNDED), where
            assert not outcome.apply_pending_refund, where
        # what is not granted, and moved money, waits for an admin (never dropped)
        if outcome.action in (Action.MISMATCH, Action.EXTRA):
            assert outcome.review, where
        # an invoice is granted once, as issued; a subscription invoice starts a subscription
        if outcome.action in (Action.GRANT, Action.START):
            assert not inv.is_paid and (chg.amount, chg.currency) == (inv.amount, inv.currency), where
            assert (outcome.action == Action.START) == inv.is_star_subscription, where
            assert outcome.review == (outcome.action == Action.START and other is not None), where
        # a renewal: a recurring charge of a paid subscription invoice, as much as the subscription, by its buyer
        if outcome.action in (Action.RENEW, Action.RENEWAL_REFUNDED):
            assert inv.is_paid and inv.is_star_subscription and chg.recurring is not None and sub is not None, where
            assert chg.amount == sub.amount and chg.currency == "XTR" and chg.from_user_id in (None, BUYER), where
        if outcome.action == Action.RENEW:
            assert outcome.subscription_status == next_status(
                sub.status, Move.RENEW, first_payment_refunded=inv.status == Payment.Status.REFUNDED
            ), where
            # never revived after its first payment's refund; flagged next to another renewing one
            if inv.status == Payment.Status.REFUNDED:
                assert outcome.subscription_status != ACTIVE or sub.status == ACTIVE, where
                assert outcome.review, where
            if other is not None:
                assert outcome.review, where


@given(
    status=st.sampled_from(INVOICE_STATUSES),
    recorded=st.sampled_from([None, "c-1", "c-2"]),
    star=st.booleans(),
    invoice_amount=st.integers(min_value=1, max_value=10_000),
    charge_amount=st.integers(min_value=-5, max_value=10_001),
    currency=st.sampled_from(["XTR", "USD", ""]),
    recurring=st.sampled_from([None, Recurring(first=True), RENEWAL]),
    payer=st.sampled_from([None, BUYER, STRANGER]),
    sub_status=st.sampled_from([None, ACTIVE, CANCELED, EXPIRED]),
    sub_amount=st.integers(min_value=1, max_value=10_000),
    other=st.sampled_from([None, "c-0"]),
    pending=st.booleans(),
)
def test_a_charge_is_granted_only_for_exactly_what_was_asked(
    status, recorded, star, invoice_amount, charge_amount, currency, recurring, payer, sub_status, sub_amount, other,
    pending,
):  # fmt: skip
    inv = invoice(
        status=status,
        charge_id=recorded,
        amount=invoice_amount,
        purchase_type=Payment.STAR_SUBSCRIPTION if star else "subscription",
    )
    chg = charge(amount=charge_amount, currency=currency, recurring=recurring, payer=payer)
    sub = subscription(sub_status, amount=sub_amount) if sub_status else None

    outcome = charge_outcome(invoice=inv, charge=chg, subscription=sub, other_live=other, pending_refund=pending)

    if outcome.action in (Action.GRANT, Action.START):
        assert chg.amount == inv.amount and chg.currency == "XTR" and not pending
    if outcome.action == Action.RENEW:
        assert chg.amount == sub.amount and chg.currency == "XTR" and not pending
    if outcome.action not in (*GRANTING, Action.DUPLICATE, Action.REFUNDED, Action.RENEWAL_REFUNDED):
        assert outcome.review


# --- The Star subscription's state machine --------------------------------------------------------

MACHINE = [
    (ACTIVE, Move.CANCEL, CANCELED),
    (ACTIVE, Move.RESUME, None),
    (ACTIVE, Move.RENEW, ACTIVE),
    (ACTIVE, Move.LAPSE, EXPIRED),
    (ACTIVE, Move.END, EXPIRED),
    (CANCELED, Move.CANCEL, None),
    (CANCELED, Move.RESUME, ACTIVE),
    (CANCELED, Move.RENEW, CANCELED),
    (CANCELED, Move.LAPSE, EXPIRED),
    (CANCELED, Move.END, EXPIRED),
    (EXPIRED, Move.CANCEL, None),
    (EXPIRED, Move.RESUME, None),
    (EXPIRED, Move.RENEW, ACTIVE),
    (EXPIRED, Move.LAPSE, None),
    (EXPIRED, Move.END, None),
]


@pytest.mark.parametrize(("status", "move", "after"), MACHINE)
def test_the_state_machine(status, move, after):
    assert next_status(status, move) == after


def test_the_machine_table_covers_every_state_and_move():
    assert {(s, m) for s, m, _ in MACHINE} == set(itertools.product((ACTIVE, CANCELED, EXPIRED), Move))
    assert {(s, m): a for s, m, a in MACHINE if a is not None} == TRANSITIONS


@pytest.mark.parametrize("status", [ACTIVE, CANCELED, EXPIRED])
def test_a_renewal_never_makes_a_subscription_renew_after_its_first_payment_was_refunded(status):
    after = next_status(status, Move.RENEW, first_payment_refunded=True)
    assert after == status  # an ended one stays ended; a live one (refund not booked yet) is not changed
