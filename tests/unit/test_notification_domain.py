"""Notification rules over a real (SQLite) database built by the service's own migrations."""
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from concilia.chassis.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from concilia.chassis.outbox import envelope
from concilia.events.v1 import events_pb2 as ev
from services.notification import domain, messages
from services.notification import models as m

BR = load_pack("BR")
AR = load_pack("AR")
NOW = datetime(2024, 3, 4, 15, 0, tzinfo=timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture()
def db(tmp_path):
    url = f"sqlite:///{tmp_path}/notification.db"
    migrate("services.notification", url)
    return Database(url)


# --- languages and texts ---------------------------------------------------------------------

def test_locale_falls_back_to_the_pack_default_and_matches_by_language():
    assert domain.normalise_locale("pt_br") == "pt-BR"
    assert domain.choose_locale(BR, "", "en-US") == "en"           # same language, other region
    assert domain.choose_locale(BR, "es-AR") == "pt-BR"            # not spoken in BR: the default
    assert domain.choose_locale(BR, "fr", "") == "pt-BR"
    assert domain.choose_locale(AR, "") == "es-AR"
    assert domain.choose_locale(AR, "pt-BR", "en") == "en"         # first candidate AR speaks
    assert domain.choose_locale(BR, "en", "pt-BR") == "en"         # preference before account locale


def test_every_kind_and_audience_has_a_text_in_every_language():
    for locale in messages.LOCALES:
        assert set(messages.TEXTS[locale]) - {"_email"} == set(domain.KINDS)
        for kind, audiences in messages.TEXTS[locale].items():
            if kind == "_email":
                continue
            assert set(audiences) == set(messages.TEXTS["en"][kind]), (locale, kind)
            for audience in audiences:
                title, body = messages.render(locale, kind, audience, ref="abcd1234", company="ACME", deadline="x",
                                              days_left=2, upheld=False, resolution="resolved", score=4)
                assert title and body and "{" not in title + body, (locale, kind, audience)


def test_deadline_is_shown_as_the_last_local_day_of_the_window():
    filed = datetime(2024, 3, 4, 15, 0, tzinfo=timezone.utc)
    deadline = BR.add_days(filed, 10)  # local midnight after 2024-03-14
    assert domain.format_deadline(deadline, BR, "en") == "March 14, 2024"
    assert domain.format_deadline(deadline, BR, "pt-BR") == "14 de março de 2024"


# --- signatures, backoff, URLs ---------------------------------------------------------------

def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"id":"e1","type":"complaint_filed"}'
    header = domain.sign("s3cret", 1700000000, body)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert domain.verify_signature("s3cret", header, body, now=1700000010)
    assert not domain.verify_signature("s3cret", header, body + b" ", now=1700000010)
    assert not domain.verify_signature("other", header, body, now=1700000010)
    assert not domain.verify_signature("s3cret", header, body, now=1700000000 + 3600)  # replayed later


@pytest.mark.parametrize("address,allow_loopback,ok", [
    ("93.184.216.34", False, True), ("2606:4700::1111", False, True),
    ("10.0.0.5", True, False), ("192.168.1.1", False, False), ("172.16.3.4", False, False),
    ("169.254.169.254", False, False), ("fe80::1%eth0", False, False), ("fd00::1", False, False),
    ("224.0.0.1", False, False), ("127.0.0.1", False, False), ("127.0.0.1", True, True), ("::1", True, True),
])
def test_webhooks_only_reach_public_addresses(address, allow_loopback, ok):
    assert domain.address_allowed(address, allow_loopback) is ok


def test_backoff_doubles_and_is_capped():
    assert [domain.backoff_seconds(n, 0.5, 3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("url,allow,ok", [
    ("https://hooks.example.com/concilia", False, True),
    ("http://hooks.example.com/x", True, False),
    ("http://127.0.0.1:8000/x", False, False),
    ("http://127.0.0.1:8000/x", True, True),
    ("http://localhost/x", True, True),
    ("http://[::1]:9000/x", True, True),
    ("https://user:pw@hooks.example.com/", False, False),
    ("ftp://hooks.example.com/", False, False),
    ("https:///nohost", False, False),
    ("https://10.1.2.3/internal", False, False),
    ("https://169.254.169.254/latest/meta-data", False, False),
    ("https://[::1]/x", False, False),
    ("https://127.0.0.1/x", True, True),
    ("https://8.8.8.8/x", False, True),
    ("", False, False),
])
def test_webhook_urls(url, allow, ok):
    if ok:
        assert domain.validate_webhook_url(url, allow) == url
    else:
        with pytest.raises(InvalidArgument) as error:
            domain.validate_webhook_url(url, allow)
        assert error.value.field == "url"


# --- events -> notifications, e-mails, deliveries ---------------------------------------------

def add_contact(session, role, locale="", company_id="", group_id="", jurisdiction="", email=True):
    account_id = new_id()
    domain.record_contact(session, ev.AccountCreated(
        account_id=account_id, role=role, name="Ana Test", email=f"{account_id[:8]}@example.test" if email else "",
        locale=locale, company_id=company_id, group_id=group_id, jurisdiction=jurisdiction), NOW)
    return account_id


def filed_event(consumer_id, company_id, group_id="", region="BR-SP"):
    data = ev.ComplaintFiled(complaint=ev.ComplaintRef(
        complaint_id=new_id(), consumer_id=consumer_id, company_id=company_id, company_group_id=group_id,
        region_code=region))
    data.answer_deadline.FromDatetime(BR.add_days(NOW, 10))
    return envelope("complaint_filed", "complaint", data, "BR"), data


def test_filed_complaint_reaches_the_company_agents_and_the_consumer_in_their_languages(db):
    company, group, other = new_id(), new_id(), new_id()
    with db.transaction() as s:
        consumer = add_contact(s, "consumer", locale="en")
        agent_pt = add_contact(s, "company_agent", locale="pt_BR", company_id=company, group_id=group)
        agent_no_mail = add_contact(s, "company_agent", company_id=company, email=False)
        group_agent = add_contact(s, "company_agent", locale="es-AR", group_id=group)  # es not spoken in BR
        add_contact(s, "company_agent", company_id=other, group_id=group)  # another company of the group
        domain.record_company(s, ev.CompanyAdhered(company_id=company, trade_name="Loja Exemplo"), NOW)
        body, data = filed_event(consumer, company, group)
        outcome = domain.handle_complaint_event(s, BR, body, data, now=NOW, email_on=True)
    assert (outcome.notifications, outcome.emails, outcome.deliveries) == (4, 3, 0)
    with db.transaction() as s:
        rows = {r.account_id: r for r in s.execute(sa.select(m.notifications)).all()}
        emails = {r.notification_id: r for r in s.execute(sa.select(m.email_outbox)).all()}
    assert set(rows) == {consumer, agent_pt, agent_no_mail, group_agent}
    assert rows[consumer].title.startswith("Complaint ") and "Loja Exemplo" in rows[consumer].body
    assert "March 14, 2024" in rows[consumer].body
    assert rows[agent_pt].title.startswith("Nova reclamação")
    assert rows[group_agent].title.startswith("Nova reclamação")  # fell back to the pack's default
    assert rows[consumer].id == domain.notification_id(body["id"], consumer)
    assert {e.notification_id for e in emails.values()} == {rows[a].id for a in (consumer, agent_pt, group_agent)}
    assert emails[rows[consumer].id].body.startswith("Hello, Ana Test.")


def kept(session):
    return sorted((r.event_id, r.waiting_for) for r in session.execute(sa.select(m.unaddressed_events)))


def account_created(account_id, role, company_id="", group_id="", locale="en"):
    return ev.AccountCreated(account_id=account_id, role=role, name="Late Comer", email=f"{account_id[:8]}@late.test",
                             locale=locale, company_id=company_id, group_id=group_id)


def test_events_that_reach_nobody_on_a_side_wait_for_the_first_contacts_of_that_side(db):
    # identity's account_created travels on its own queue: the complaint's events can come first.
    company, consumer = new_id(), new_id()
    with db.transaction() as s:
        domain.record_company(s, ev.CompanyAdhered(company_id=company, trade_name="Loja Tardia"), NOW)
        body, data = filed_event(consumer, company)
        outcome = domain.handle_complaint_event(s, BR, body, data, now=NOW, email_on=True)
        assert (outcome.notifications, outcome.emails) == (1, 0)  # the consumer's inbox entry only
        assert kept(s) == [(body["id"], "company"), (body["id"], "consumer")]
    agent, latecomer = new_id(), new_id()
    with db.transaction() as s:
        accounts = [account_created(agent, "company_agent", company_id=company),
                    account_created(consumer, "consumer", locale="pt-BR"),
                    account_created(new_id(), "company_agent", company_id=new_id())]  # another company's
        domain.record_contacts(s, accounts, NOW)
        late = domain.deliver_late(s, BR, accounts, now=NOW + timedelta(minutes=5), email_on=True)
        assert (late.notifications, late.emails) == (2, 2)
        assert kept(s) == []
        # Handed to the first contacts of a side only: an agent recorded later gets nothing more.
        accounts = [account_created(latecomer, "company_agent", company_id=company)]
        domain.record_contacts(s, accounts, NOW)
        assert domain.deliver_late(s, BR, accounts, now=NOW, email_on=True) == domain.Outcome()
    with db.transaction() as s:
        rows = {r.account_id: r for r in s.execute(sa.select(m.notifications))}
        emails = {r.notification_id: r for r in s.execute(sa.select(m.email_outbox))}
    assert set(rows) == {consumer, agent}  # the consumer's entry was not written twice
    assert rows[agent].title.startswith("New complaint") and "March 14, 2024" in rows[agent].body
    assert rows[agent].created_at == NOW + timedelta(minutes=5)
    assert set(emails) == {rows[agent].id, rows[consumer].id}
    assert emails[rows[consumer].id].to_address == f"{consumer[:8]}@late.test"
    assert emails[rows[consumer].id].subject.startswith("Reclamação")  # the consumer's language, now known
    assert "Loja Tardia" in emails[rows[consumer].id].body


def test_a_group_wide_agent_gets_the_events_of_its_groups_companies_only(db):
    company, group, other = new_id(), new_id(), new_id()
    with db.transaction() as s:
        consumer = add_contact(s, "consumer")
        mine = filed_event(consumer, company, group)
        theirs = filed_event(consumer, other, new_id())
        domain.handle_complaint_events(s, BR, [mine, theirs], now=NOW, email_on=False)
        assert kept(s) == sorted([(mine[0]["id"], "company"), (theirs[0]["id"], "company")])
        group_agent = new_id()
        accounts = [account_created(group_agent, "company_agent", group_id=group)]
        domain.record_contacts(s, accounts, NOW)
        domain.deliver_late(s, BR, accounts, now=NOW, email_on=False)
        assert kept(s) == [(theirs[0]["id"], "company")]
        assert s.scalars(sa.select(m.notifications.c.event_id).where(
            m.notifications.c.account_id == group_agent)).all() == [mine[0]["id"]]


def test_without_email_nothing_waits_for_the_consumer_and_old_kept_events_are_pruned(db):
    with db.transaction() as s:
        add_contact(s, "company_agent", company_id=(company := new_id()))
        body, data = filed_event(new_id(), company)
        domain.handle_complaint_event(s, BR, body, data, now=NOW, email_on=False)
        assert kept(s) == []  # the inbox entry was written; there is no e-mail to send later
        old, new = filed_event(new_id(), new_id()), filed_event(new_id(), new_id())
        domain.handle_complaint_events(s, BR, [old], now=NOW, email_on=False)
        s.execute(m.unaddressed_events.update().values(created_at=NOW - timedelta(days=2)))
        domain.handle_complaint_events(s, BR, [new], now=NOW, email_on=False)
        assert domain.prune_unaddressed(s, NOW - timedelta(days=1)) == 1
        assert kept(s) == [(new[0]["id"], "company")]


def test_preferences_silence_emails_but_not_the_inbox(db):
    company = new_id()
    with db.transaction() as s:
        consumer = add_contact(s, "consumer", locale="pt-BR")
        agent = add_contact(s, "company_agent", company_id=company)
        domain.update_preferences(s, BR, Principal(agent, "company_agent", company_id=company), True, "en",
                                  ["complaint_filed"], NOW)
        domain.update_preferences(s, BR, Principal(consumer, "consumer"), False, "", [], NOW)
        body, data = filed_event(consumer, company)
        outcome = domain.handle_complaint_event(s, BR, body, data, now=NOW, email_on=True)
    assert (outcome.notifications, outcome.emails) == (2, 0)
    with db.transaction() as s:
        agent_row = s.execute(sa.select(m.notifications).where(m.notifications.c.account_id == agent)).one()
    assert agent_row.title.startswith("New complaint")  # preferred language wins over the account's


def test_email_off_queues_nothing_and_unknown_consumer_still_gets_an_inbox_entry(db):
    company, unknown_consumer = new_id(), new_id()
    with db.transaction() as s:
        add_contact(s, "company_agent", company_id=company)
        body, data = filed_event(unknown_consumer, company)
        outcome = domain.handle_complaint_event(s, BR, body, data, now=NOW, email_on=False)
    assert (outcome.notifications, outcome.emails) == (2, 0)


@pytest.mark.parametrize("event_type,data,expected", [
    ("complaint_answered", ev.ComplaintAnswered(), {"consumer"}),
    ("complaint_evaluated", ev.ComplaintEvaluated(resolution="resolved", satisfaction_score=5), {"agent"}),
    ("complaint_message_added", ev.ComplaintMessageAdded(author_role="consumer"), {"agent"}),
    ("complaint_message_added", ev.ComplaintMessageAdded(author_role="company_agent"), {"consumer"}),
    ("deadline_reminder", ev.DeadlineReminder(deadline_kind="company_answer", days_left=2), {"agent"}),
    ("deadline_reminder", ev.DeadlineReminder(deadline_kind="consumer_evaluation", days_left=2), {"consumer"}),
    ("complaint_refused", ev.ComplaintRefused(reason_code="duplicate"), {"consumer", "procon-sp"}),
    ("complaint_cancelled", ev.ComplaintCancelled(), {"consumer", "agent"}),
])
def test_who_owes_the_next_step_is_told(db, event_type, data, expected):
    company = new_id()
    with db.transaction() as s:
        people = {"consumer": add_contact(s, "consumer"), "agent": add_contact(s, "company_agent", company_id=company),
                  "procon-sp": add_contact(s, "manager", jurisdiction="BR-SP"),
                  "senacon": add_contact(s, "manager", jurisdiction="BR")}
        data.complaint.CopyFrom(ev.ComplaintRef(complaint_id=new_id(), consumer_id=people["consumer"],
                                                company_id=company, region_code="BR-SP"))
        domain.handle_complaint_event(s, BR, envelope(event_type, "complaint", data, "BR"), data, now=NOW,
                                      email_on=True)
        told = set(s.scalars(sa.select(m.notifications.c.account_id)))
    assert told == {people[name] for name in expected}


# --- inbox ------------------------------------------------------------------------------------

def test_inbox_is_private_paginated_and_mark_read_touches_only_own_rows(db):
    me, other = Principal(new_id(), "consumer"), Principal(new_id(), "consumer")
    with db.transaction() as s:
        for i in range(5):
            for who in (me, other):
                s.execute(m.notifications.insert().values(
                    id=new_id(), account_id=who.account_id, event_id=new_id(), kind="complaint_answered",
                    complaint_id=new_id(), title=f"t{i}", body="b", created_at=NOW + timedelta(minutes=i)))
    with db.transaction() as s:
        first, token, unread = domain.list_inbox(s, me, False, 2, "")
        second, token2, _ = domain.list_inbox(s, me, False, 2, token)
        third, token3, _ = domain.list_inbox(s, me, False, 2, token2)
    assert [r.title for r in first + second + third] == ["t4", "t3", "t2", "t1", "t0"] and token3 == ""
    assert unread == 5 and {r.account_id for r in first + second + third} == {me.account_id}
    others = [r.id for r in domain.list_inbox(db.sessions(), other, False, 10, "")[0]]
    with db.transaction() as s:
        assert domain.mark_read(s, me, [first[0].id, others[0]], False, NOW) == 1
    with db.transaction() as s:
        assert domain.list_inbox(s, other, True, 10, "")[2] == 5
        rows, _, unread = domain.list_inbox(s, me, True, 10, "")
        assert unread == 4 and first[0].id not in {r.id for r in rows}
        assert domain.mark_read(s, me, [], True, NOW) == 4
    for bad in (dict(ids=[], all_=False), dict(ids=["not-an-id"], all_=False)):
        with pytest.raises(InvalidArgument) as error, db.transaction() as s:
            domain.mark_read(s, me, bad["ids"], bad["all_"], NOW)
        assert error.value.field == "notification_ids"
    with pytest.raises(InvalidArgument) as error, db.transaction() as s:
        domain.list_inbox(s, me, False, 10, "garbage")
    assert error.value.field == "page_token"


def test_preferences_validation_changes_nothing(db):
    me = Principal(new_id(), "consumer")
    for locale, muted, field in (("fr", [], "locale"), ("es-AR", [], "locale"), ("", ["bogus"], "muted_kinds")):
        with pytest.raises(InvalidArgument) as error, db.transaction() as s:
            domain.update_preferences(s, BR, me, False, locale, muted, NOW)
        assert error.value.field == field
    with db.transaction() as s:
        assert domain.get_preferences(s, me) == domain.Preferences(True, "", ())
        saved = domain.update_preferences(s, BR, me, False, "pt_br", ["deadline_reminder", "deadline_reminder"], NOW)
    assert saved == domain.Preferences(False, "pt-BR", ("deadline_reminder",))
    with db.transaction() as s:
        assert domain.get_preferences(s, me) == saved


# --- webhooks ---------------------------------------------------------------------------------

def register(s, agent, url="https://hooks.example.com/c", types=("complaint_filed",), **kw):
    return domain.register_webhook(s, agent, url, list(types), now=NOW, allow_insecure_loopback=False,
                                   max_per_company=kw.get("max_per_company", 3))


def test_webhook_registration_rules(db):
    company = new_id()
    agent = Principal(new_id(), "company_agent", company_id=company)
    with db.transaction() as s:
        hook, secret = register(s, agent)
    assert len(secret) == 64 and hook.company_id == company
    fresh = "https://hooks.example.com/other"
    cases = [
        (Principal(new_id(), "consumer"), {"url": fresh}, PermissionDenied),
        (Principal(new_id(), "company_agent"), {"url": fresh}, PermissionDenied),  # no company in the token
        (agent, {}, AlreadyExists),  # the same URL again
        (agent, {"url": fresh, "types": ()}, InvalidArgument),
        (agent, {"url": fresh, "types": ("account_created",)}, InvalidArgument),
        (agent, {"url": "http://hooks.example.com/"}, InvalidArgument),
    ]
    for who, kw, error in cases:
        with pytest.raises(error), db.transaction() as s:
            register(s, who, **kw)
    with db.transaction() as s:
        assert len(domain.list_webhooks(s, agent)) == 1  # the refused ones left nothing behind
    with db.transaction() as s:
        register(s, agent, url="https://b.example.com/")
        register(s, agent, url="https://c.example.com/")
    with pytest.raises(FailedPrecondition), db.transaction() as s:
        register(s, agent, url="https://d.example.com/")
    with db.transaction() as s:
        assert len(domain.list_webhooks(s, agent)) == 3
        assert domain.list_webhooks(s, Principal(new_id(), "company_agent", company_id=new_id())) == []


def test_deliveries_are_queued_once_per_subscribed_endpoint_and_replayed_only_by_the_company(db):
    company = new_id()
    agent = Principal(new_id(), "company_agent", company_id=company)
    stranger = Principal(new_id(), "company_agent", company_id=new_id())
    with db.transaction() as s:
        filed_hook, _ = register(s, agent, types=("complaint_filed", "complaint_answered"))
        register(s, agent, url="https://other.example.com/", types=("complaint_answered",))
        body, data = filed_event(new_id(), company)
        assert domain.handle_complaint_event(s, BR, body, data, now=NOW, email_on=False).deliveries == 1
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:  # the constraint behind "exactly one"
        domain.queue_webhook_deliveries(s, [(body, company)], NOW)
    with db.transaction() as s:
        (delivery,), _ = domain.list_deliveries(s, agent, "", "", 10, "")
    assert delivery.webhook_id == filed_hook.id and json.loads(delivery.payload) == body
    with pytest.raises(FailedPrecondition), db.transaction() as s:
        domain.replay_delivery(s, agent, delivery.id)  # still pending
    with db.transaction() as s:
        s.execute(m.webhook_deliveries.update().values(status="dead_lettered", attempts=8))
    with pytest.raises(NotFound), db.transaction() as s:
        domain.replay_delivery(s, stranger, delivery.id)
    with pytest.raises(NotFound), db.transaction() as s:
        domain.list_deliveries(s, stranger, filed_hook.id, "", 10, "")
    with db.transaction() as s:
        replayed = domain.replay_delivery(s, agent, delivery.id)
    assert (replayed.status, replayed.attempts, replayed.replays) == ("pending", 0, 1)


# --- batches ----------------------------------------------------------------------------------

def test_claim_events_is_consume_once_for_a_batch(db):
    a, b = new_id(), new_id()
    with db.transaction() as s:
        assert domain.claim_events(s, "notification", [a, b, a]) == {a, b}
    c = new_id()
    with db.transaction() as s:
        assert domain.claim_events(s, "notification", [a, c]) == {c}  # a redelivered a, a new c
        assert domain.claim_events(s, "metrics", [a]) == {a}  # another consumer has its own record  # another consumer has its own record
    with pytest.raises(RuntimeError), db.transaction() as s:
        fresh = new_id()
        assert domain.claim_events(s, "notification", [fresh]) == {fresh}
        raise RuntimeError("the batch failed after claiming")
    with db.transaction() as s:
        assert domain.claim_events(s, "notification", [fresh]) == {fresh}  # the claim rolled back with it


def test_a_later_account_event_updates_the_contact(db):
    account_id = new_id()
    with db.transaction() as s:
        domain.record_contacts(s, [ev.AccountCreated(account_id=account_id, role="consumer", locale="en", email="x@y.z"),
                                   ev.AccountCreated(account_id=account_id, role="consumer", locale="pt_BR", email="x@y.z")],
                               NOW)
    with db.transaction() as s:
        assert s.execute(sa.select(m.contacts.c.locale).where(m.contacts.c.account_id == account_id)).scalar() == "pt-BR"


def test_a_batch_with_one_bad_event_commits_nothing_and_its_good_events_commit_without_it(db):
    # The chassis retries a failed batch in halves (tests/integration/test_batch_events.py): the
    # batch's transaction must be all or nothing for that to lose and duplicate nothing.
    from types import SimpleNamespace
    from services.notification.worker import apply_events
    runtime = SimpleNamespace(pack=BR, clock=SimpleNamespace(now=lambda: NOW),
                              settings=SimpleNamespace(email_enabled=False, public_base_url=""))
    company, consumer = new_id(), new_id()
    good, bad = filed_event(consumer, company), filed_event(consumer, company)
    with db.transaction() as s:  # a row already holding the id the bad event's notification needs
        s.execute(m.notifications.insert().values(
            id=domain.notification_id(bad[0]["id"], consumer), account_id=new_id(), event_id=new_id(),
            kind="complaint_filed", title="t", body="b", created_at=NOW))

    def handled():
        with db.transaction() as s:
            return set(s.scalars(sa.select(m.processed_events.c.event_id)))

    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:
        apply_events(s, runtime, [("complaint_filed", good[0], good[1]), ("complaint_filed", bad[0], bad[1])])
    assert handled() == set()
    with db.transaction() as s:
        apply_events(s, runtime, [("complaint_filed", good[0], good[1])])
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:
        apply_events(s, runtime, [("complaint_filed", bad[0], bad[1])])
    assert handled() == {good[0]["id"]}  # the bad one stays unacknowledged, to be redelivered


def test_the_retention_of_kept_events_must_be_positive():
    from concilia.chassis import config
    from concilia.chassis.config import ConfigError
    from services.notification.settings import WorkerSettings
    environ = {"DATABASE_URL": "sqlite://"}
    assert config.load(WorkerSettings, environ).check().unaddressed_retention_hours == 24.0
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError):
            config.load(WorkerSettings, {**environ, "NOTIFICATION_UNADDRESSED_RETENTION_HOURS": bad}).check()

