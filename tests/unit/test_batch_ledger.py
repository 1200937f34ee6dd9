"""The batch entrypoint's ack ledger: a `multiple` ack may only cover deliveries already settled
or in the batch being acked (concilia.chassis.batch_events._Ledger)."""
from concilia.chassis.batch_events import _Ledger


def ledger_with(*tags) -> _Ledger:
    ledger = _Ledger(channel=object())
    for tag in tags:
        ledger.add(tag)
    return ledger


def test_the_oldest_deliveries_are_acked_with_one_multiple_ack():
    ledger = ledger_with(1, 2, 3, 4, 5, 6)
    assert ledger.close([1, 2, 3]) is True
    assert ledger.close([4, 5, 6]) is True


def test_a_batch_newer_than_an_open_delivery_is_acked_one_by_one():
    ledger = ledger_with(1, 2, 3, 4, 5, 6)
    assert ledger.close([4, 5, 6]) is False  # 1-3 are still in flight: a multiple ack would take them
    assert ledger.close([2]) is False        # 1 still open
    assert ledger.close([1, 3]) is True      # now nothing older is open


def test_requeued_deliveries_count_as_settled():
    ledger = ledger_with(10, 11, 12)
    assert ledger.close([11]) is False       # e.g. a poison event requeued while 10 is in flight
    assert ledger.close([10, 12]) is True


def test_no_multiple_ack_once_a_consumer_was_cancelled():
    ledger = ledger_with(1, 2)
    ledger.multiple = False
    assert ledger.close([1, 2]) is False
