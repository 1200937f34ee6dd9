"""Sending what the event handlers queued: e-mails over SMTP and webhook POSTs over HTTPS.

Run by the worker's timers, never inside an event handler. Each message is claimed, sent and marked
in its own transaction (the row stays locked while it is sent, FOR UPDATE SKIP LOCKED on PostgreSQL,
so two worker processes never send the same row at once). A crash after sending but before the
commit sends that one message again on restart: at-least-once, with stable ids (Message-ID,
X-Concilia-Delivery-Id) so a duplicate is recognisable. Nothing here imports grpc or nameko.
"""
import logging
import smtplib
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

import sqlalchemy as sa
from prometheus_client import Counter

from concilia.chassis.db import Database

from . import domain
from . import models as m
from .settings import WorkerSettings

log = logging.getLogger(__name__)

EMAILS = Counter("concilia_notification_emails_total", "E-mail send attempts", ["outcome"])
WEBHOOK_CALLS = Counter("concilia_notification_webhook_calls_total", "Webhook delivery attempts", ["outcome"])


def _now() -> datetime:
    # Retries run on wall-clock time: a frozen controlled platform clock must not stall them.
    return datetime.now(timezone.utc)


def _claim(session, table: sa.Table, due_condition, is_postgres: bool):
    query = sa.select(table).where(due_condition).order_by(table.c.next_attempt_at).limit(1)
    if is_postgres:
        query = query.with_for_update(skip_locked=True)
    return session.execute(query).first()


class PermanentFailure(Exception):
    """The SMTP server refused the message for good (e.g. unknown recipient): no retry."""


class EmailSender:
    def __init__(self, settings: WorkerSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            try:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
            except Exception:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _message(self, row) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = row.to_address
        message["Subject"] = row.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = domain.email_message_id(row.notification_id, self.settings.smtp_from)
        message["Content-Language"] = row.locale
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(row.body)
        return message

    def _send(self, row) -> None:
        try:
            self._connection().send_message(self._message(row))
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            code = getattr(error, "smtp_code", 0) or min(
                (c for c, _ in getattr(error, "recipients", {}).values()), default=0)
            if 500 <= code < 600:
                raise PermanentFailure(f"smtp {code}") from None
            self.close()
            raise
        except (smtplib.SMTPException, OSError):
            self.close()  # reconnect on the next message
            raise

    def drain(self, database: Database) -> int:
        """Sends due e-mails (up to one batch); returns how many were sent."""
        sent = 0
        e = m.email_outbox.c
        try:
            for _ in range(self.settings.batch_size):
                with database.transaction() as session:
                    row = _claim(session, m.email_outbox, sa.and_(e.status == "pending", e.next_attempt_at <= _now()),
                                 database.is_postgres)
                    if row is None:
                        break
                    attempts = row.attempts + 1
                    try:
                        self._send(row)
                    except PermanentFailure as failure:
                        values = dict(status="failed", last_error=str(failure))
                        EMAILS.labels("refused").inc()
                    except (smtplib.SMTPException, OSError) as error:
                        # Log the error class only: SMTP replies may quote the recipient's address.
                        reason = type(error).__name__
                        if attempts >= self.settings.email_max_attempts:
                            values = dict(status="failed", last_error=reason)
                        else:
                            delay = domain.backoff_seconds(attempts, self.settings.email_retry_base_seconds, 6 * 3600)
                            values = dict(next_attempt_at=_now() + timedelta(seconds=delay), last_error=reason)
                        EMAILS.labels("error").inc()
                        log.warning("e-mail %s attempt %d failed: %s", row.notification_id, attempts, reason)
                    else:
                        values = dict(status="sent", sent_at=_now(), last_error="")
                        EMAILS.labels("sent").inc()
                        sent += 1
                    session.execute(m.email_outbox.update().where(e.notification_id == row.notification_id)
                                    .values(attempts=attempts, **values))
                    if values.get("status") != "sent" and "next_attempt_at" in values:
                        break  # the server is probably down: leave the rest for the next tick
        finally:
            self.close()
        return sent


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: the delivery fails with the 3xx status."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookDeliverer:
    def __init__(self, settings: WorkerSettings):
        self.settings = settings
        self.opener = urllib.request.build_opener(_NoRedirect)

    def _blocked(self, url: str) -> bool:
        """True when the host resolves to an address webhooks must not reach (internal networks):
        checked at every attempt, since DNS can change after registration."""
        parts = urlsplit(url)
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                       type=socket.SOCK_STREAM)
        except OSError:
            return False  # unresolvable: let the request fail as a connection error
        allow = self.settings.webhooks_allow_insecure_loopback
        return any(not domain.address_allowed(info[4][0], allow) for info in infos)

    def post(self, url: str, body: bytes, headers: dict) -> tuple[int, str]:
        """(HTTP status or 0, short error text)."""
        if self._blocked(url):
            return 0, "blocked address"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self.opener.open(request, timeout=self.settings.webhook_timeout_seconds) as response:
                response.read(1024)  # drain a little so keep-alive servers are not cut mid-reply
                return response.status, ""
        except urllib.error.HTTPError as error:
            return error.code, f"http {error.code}"
        except (socket.timeout, TimeoutError):
            return 0, "timeout"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return 0, "timeout" if isinstance(reason, (socket.timeout, TimeoutError)) else "connection failed"

    def drain(self, database: Database) -> int:
        """Attempts due deliveries (up to one batch); returns how many succeeded."""
        delivered = 0
        d, w = m.webhook_deliveries.c, m.webhooks.c
        s = self.settings
        active_hook = sa.select(w.id).where(w.active).scalar_subquery()
        for _ in range(s.batch_size):
            with database.transaction() as session:
                row = _claim(session, m.webhook_deliveries,
                             sa.and_(d.status.in_(("pending", "retrying")), d.next_attempt_at <= _now(),
                                     d.webhook_id.in_(active_hook)), database.is_postgres)
                if row is None:
                    break
                hook = session.execute(sa.select(w.url, w.secret).where(w.id == row.webhook_id)).one()
                attempts = row.attempts + 1
                body = row.payload.encode()
                headers = {
                    "Content-Type": "application/json", "User-Agent": "Concilia-Webhooks/1",
                    "X-Concilia-Signature": domain.sign(hook.secret, int(time.time()), body),
                    "X-Concilia-Event-Id": row.event_id, "X-Concilia-Event-Type": row.event_type,
                    "X-Concilia-Delivery-Id": row.id, "X-Concilia-Attempt": str(attempts),
                }
                status, error = self.post(hook.url, body, headers)
                if 200 <= status < 300:
                    values = dict(status="delivered", delivered_at=_now(), last_error="")
                    WEBHOOK_CALLS.labels("delivered").inc()
                    delivered += 1
                elif attempts >= s.webhook_max_attempts:
                    values = dict(status="dead_lettered", last_error=error or f"http {status}")
                    WEBHOOK_CALLS.labels("dead_lettered").inc()
                    log.warning("webhook delivery %s dead-lettered after %d attempts", row.id, attempts)
                else:
                    delay = domain.backoff_seconds(attempts, s.webhook_retry_base_seconds, s.webhook_retry_max_seconds)
                    values = dict(status="retrying", next_attempt_at=_now() + timedelta(seconds=delay),
                                  last_error=error or f"http {status}")
                    WEBHOOK_CALLS.labels("failed").inc()
                session.execute(m.webhook_deliveries.update().where(d.id == row.id)
                                .values(attempts=attempts, last_http_status=status, **values))
        return delivered
