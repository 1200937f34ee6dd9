"""Which batch window a handler gets (concilia.chassis.batch_events.BatchSettings.resolve): the
operator's EVENT_BATCH_WINDOW_SECONDS, else the handler's own, else the chassis default."""
import pytest

from concilia.chassis.batch_events import BatchSettings, batch_event_handler
from concilia.chassis.config import ConfigError
from services.notification import worker as notification_worker


def test_without_a_handler_window_the_environment_or_the_default_applies():
    assert BatchSettings.resolve(None, {}).window_seconds == BatchSettings().window_seconds
    assert BatchSettings.resolve(None, {"EVENT_BATCH_WINDOW_SECONDS": "0.2"}).window_seconds == 0.2


def test_the_handler_window_replaces_the_default_but_not_the_operators_setting():
    assert BatchSettings.resolve(0.05, {}).window_seconds == 0.05
    assert BatchSettings.resolve(0.05, {"EVENT_BATCH_WINDOW_SECONDS": ""}).window_seconds == 0.05
    assert BatchSettings.resolve(0.05, {"EVENT_BATCH_WINDOW_SECONDS": "0.001"}).window_seconds == 0.001
    # The other settings still come from the environment.
    assert BatchSettings.resolve(0.05, {"EVENT_BATCH_MAX": "7"}).batch_max == 7


def test_bad_windows_are_refused():
    with pytest.raises(ValueError):
        batch_event_handler({"complaint": ("complaint_filed",)}, window_seconds=-1)(lambda self, events: None)
    with pytest.raises(ConfigError):
        BatchSettings.resolve(None, {"EVENT_BATCH_WINDOW_SECONDS": "-1"})


def test_the_notification_worker_declares_a_longer_window_than_the_default():
    entrypoint = next(e for e in getattr(notification_worker.NotificationWorker.write_events, "nameko_entrypoints"))
    assert entrypoint.window_seconds == notification_worker.BATCH_WINDOW_SECONDS > BatchSettings().window_seconds
