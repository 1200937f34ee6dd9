"""Company-registry rules against a real PostgreSQL database (migrated as in production)."""
import json
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from stdnum.br import cnpj as cnpj_format

from concilia.chassis.auth import Principal
from concilia.chassis.clock import FileClock
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from concilia.chassis.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from concilia.chassis.outbox import Outbox
from services.company_registry import models
from services.company_registry.domain import SOURCE, Registry
from services.company_registry.taxonomy import taxonomy_of
from support.ids import new_cnpj, new_cuit, with_wrong_check_digit

NOW = datetime(2026, 3, 2, 13, 30, tzinfo=timezone.utc)
MANAGER = Principal(account_id=str(uuid.uuid4()), role="manager", jurisdiction="BR")
ADMIN = Principal(account_id=str(uuid.uuid4()), role="admin")
CONSUMER = Principal(account_id=str(uuid.uuid4()), role="consumer")
AGENT = Principal(account_id=str(uuid.uuid4()), role="company_agent", company_id=str(uuid.uuid4()))
MONITOR = Principal(account_id=str(uuid.uuid4()), role="monitor", jurisdiction="BR")
SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"


@pytest.fixture(scope="module")
def database(make_database):
    url = make_database("registry_unit")
    migrate("services.company_registry", url)
    db = Database(url, pool_size=2)
    yield db
    db.engine.dispose()


def make_registry(country: str, tmp_path) -> Registry:
    pack = load_pack(country)
    clock = FileClock(tmp_path / "clock")
    clock.set(NOW)
    return Registry(pack, taxonomy_of(pack), clock, Outbox(models.outbox, SOURCE, pack.code))


@pytest.fixture()
def registry(tmp_path) -> Registry:
    return make_registry("BR", tmp_path)


def counts(database) -> dict:
    """Row counts of every table: 'nothing changed' means these are equal before and after."""
    with database.engine.connect() as connection:
        return {table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                for table in models.metadata.sorted_tables}


def outbox_events(database, company_id: str) -> list[dict]:
    with database.engine.connect() as connection:
        rows = connection.execute(sa.select(models.outbox).order_by(models.outbox.c.seq)).all()
    bodies = [json.loads(row.body) for row in rows]
    return [body for body in bodies if body["data"].get("company_id") == company_id]


def apply(database, registry, actor=None, **fields):
    values = {"tax_id": new_cnpj(), "legal_name": "Banco Exemplo S.A.", "trade_name": "Banco Exemplo",
              "segment_code": SEGMENT, "terms_accepted": True, **fields}
    with database.transaction() as session:
        return registry.apply(session, actor, **values)


def act(database, method, *args, **kwargs):
    with database.transaction() as session:
        return method(session, *args, **kwargs)


def status_of(database, company_id: str) -> str:
    with database.engine.connect() as connection:
        return connection.execute(sa.select(models.companies.c.status)
                                  .where(models.companies.c.id == company_id)).scalar_one()


# --- applying ---------------------------------------------------------------------------------
def test_apply_stores_the_compact_cnpj_and_starts_pending_with_history(database, registry):
    number = new_cnpj()
    company = apply(database, registry, tax_id=cnpj_format.format(number), legal_name="  Loja Boa Ltda  ")
    assert company.tax_id == number and "." not in company.tax_id
    assert company.status == "pending"
    assert company.legal_name == "Loja Boa Ltda"
    assert company.created_at == NOW
    history = act(database, registry.history, MANAGER, company.id)
    assert [(h.from_status, h.to_status, h.actor_id, h.actor_role) for h in history] == [("", "pending", "", "public")]
    assert outbox_events(database, company.id) == []  # nothing to announce until approved


def test_apply_by_a_signed_in_applicant_records_who(database, registry):
    company = apply(database, registry, actor=AGENT)
    history = act(database, registry.history, MANAGER, company.id)
    assert (history[0].actor_id, history[0].actor_role) == (AGENT.account_id, "company_agent")


@pytest.mark.parametrize("fields, field", [
    ({"tax_id": with_wrong_check_digit(new_cnpj())}, "tax_id"),
    ({"tax_id": new_cuit()}, "tax_id"),  # a CUIT is not a CNPJ in a Brazilian deployment
    ({"tax_id": ""}, "tax_id"),
    ({"tax_id": "1" * 40}, "tax_id"),
    ({"legal_name": "x" * 201}, "legal_name"),
    ({"legal_name": "   "}, "legal_name"),
    ({"trade_name": "y" * 201}, "trade_name"),
    ({"trade_name": ""}, "trade_name"),
    ({"segment_code": "no-such-segment"}, "segment_code"),
    ({"segment_code": ""}, "segment_code"),
    ({"group_name": "g" * 201}, "group_name"),
    ({"terms_accepted": False}, "terms_accepted"),
])
def test_bad_applications_name_the_field_and_write_nothing(database, registry, fields, field):
    before = counts(database)
    with pytest.raises(InvalidArgument) as raised:
        apply(database, registry, **{"group_name": "Grupo Que Não Deve Existir", **fields})
    assert raised.value.field == field
    assert counts(database) == before


def test_names_at_the_limit_are_accepted(database, registry):
    company = apply(database, registry, legal_name="L" * 200, trade_name="T" * 200)
    assert len(company.legal_name) == 200 and len(company.trade_name) == 200


def test_a_duplicate_company_id_is_already_exists_even_when_formatted_differently(database, registry):
    number = new_cnpj()
    apply(database, registry, tax_id=number)
    before = counts(database)
    with pytest.raises(AlreadyExists) as raised:
        apply(database, registry, tax_id=cnpj_format.format(number), group_name="Grupo Duplicado")
    assert raised.value.field == "tax_id"
    assert counts(database) == before


def test_group_name_creates_a_group_once_and_reuses_it_ignoring_case_and_accents(database, registry):
    name = f"Grupo Ação {uuid.uuid4().hex[:6]}"
    first = apply(database, registry, group_name=name)
    second = apply(database, registry, group_name="  " + name.upper().replace("Ç", "C").replace("Ã", "A"))
    third = apply(database, registry, group_name=name + " Outro")
    assert first.group_id and first.group_id == second.group_id
    assert second.group_name == name  # the first spelling is kept
    assert third.group_id not in ("", first.group_id)
    assert apply(database, registry).group_id == ""


# --- the adhesion lifecycle -------------------------------------------------------------------
def test_approve_suspend_reinstate_with_history_and_events(database, registry):
    company = apply(database, registry, group_name=f"Grupo {uuid.uuid4().hex[:6]}")

    approved = act(database, registry.approve, MANAGER, company.id)
    assert approved.status == "active"
    suspended = act(database, registry.suspend, ADMIN, company.id, "  Descumprimento reiterado dos prazos  ")
    assert (suspended.status, suspended.status_reason) == ("suspended", "Descumprimento reiterado dos prazos")
    reinstated = act(database, registry.reinstate, MANAGER, company.id)
    assert (reinstated.status, reinstated.status_reason) == ("active", "")

    history = act(database, registry.history, MANAGER, company.id)
    assert [(h.from_status, h.to_status, h.actor_id, h.actor_role) for h in history] == [
        ("", "pending", "", "public"),
        ("pending", "active", MANAGER.account_id, "manager"),
        ("active", "suspended", ADMIN.account_id, "admin"),
        ("suspended", "active", MANAGER.account_id, "manager")]
    assert history[2].reason == "Descumprimento reiterado dos prazos"
    assert all(h.occurred_at == NOW for h in history)

    events = outbox_events(database, company.id)
    assert [e["type"] for e in events] == ["company_adhered", "company_suspended", "company_adhered"]
    assert {e["source"] for e in events} == {"company_registry"} and {e["country"] for e in events} == {"BR"}
    assert events[0]["data"] == {"company_id": company.id, "tax_id": company.tax_id,
                                 "trade_name": "Banco Exemplo", "segment_code": SEGMENT,
                                 "group_id": company.group_id}
    assert events[1]["data"] == {"company_id": company.id, "reason": "Descumprimento reiterado dos prazos"}
    assert len({e["id"] for e in events}) == 3


@pytest.mark.parametrize("actor", [CONSUMER, AGENT, MONITOR], ids=lambda p: p.role)
def test_only_managers_and_admins_move_companies(database, registry, actor):
    pending = apply(database, registry)
    active = apply(database, registry)
    act(database, registry.approve, MANAGER, active.id)
    before = counts(database)
    with pytest.raises(PermissionDenied):
        act(database, registry.approve, actor, pending.id)
    with pytest.raises(PermissionDenied):
        act(database, registry.suspend, actor, active.id, "motivo")
    with pytest.raises(PermissionDenied):
        act(database, registry.reinstate, actor, active.id)
    assert counts(database) == before
    assert (status_of(database, pending.id), status_of(database, active.id)) == ("pending", "active")


def test_illegal_transitions_are_failed_precondition_and_change_nothing(database, registry):
    pending = apply(database, registry)
    active = apply(database, registry)
    act(database, registry.approve, MANAGER, active.id)
    suspended = apply(database, registry)
    act(database, registry.approve, MANAGER, suspended.id)
    act(database, registry.suspend, MANAGER, suspended.id, "motivo")
    before = counts(database)
    for method, company, args in [
        (registry.suspend, pending, ("motivo",)), (registry.reinstate, pending, ()),
        (registry.approve, active, ()), (registry.reinstate, active, ()),
        (registry.approve, suspended, ()), (registry.suspend, suspended, ("outro motivo",)),
    ]:
        with pytest.raises(FailedPrecondition):
            act(database, method, MANAGER, company.id, *args)
    assert counts(database) == before
    assert [status_of(database, c.id) for c in (pending, active, suspended)] == ["pending", "active", "suspended"]


def test_suspension_needs_a_reason_within_limits(database, registry):
    company = apply(database, registry)
    act(database, registry.approve, MANAGER, company.id)
    before = counts(database)
    for reason in ("", "   ", "r" * 501):
        with pytest.raises(InvalidArgument) as raised:
            act(database, registry.suspend, MANAGER, company.id, reason)
        assert raised.value.field == "reason"
    assert counts(database) == before and status_of(database, company.id) == "active"


def test_unknown_and_malformed_company_ids(database, registry):
    with pytest.raises(NotFound):
        act(database, registry.approve, MANAGER, str(uuid.uuid4()))
    with pytest.raises(NotFound):
        act(database, registry.get, str(uuid.uuid4()))
    for bad in ("", "not-an-id", "1; drop table companies"):
        with pytest.raises(InvalidArgument) as raised:
            act(database, registry.get, bad)
        assert raised.value.field == "company_id"


def test_the_history_is_append_only_in_the_database(database, registry):
    company = apply(database, registry)
    table = models.company_history
    for statement in (table.update().where(table.c.company_id == company.id).values(actor_role="admin"),
                      table.delete().where(table.c.company_id == company.id)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with database.transaction() as session:
                session.execute(statement)
    assert len(act(database, registry.history, MANAGER, company.id)) == 1


def test_only_staff_read_the_history(database, registry):
    company = apply(database, registry, actor=AGENT)
    assert len(act(database, registry.history, MONITOR, company.id)) == 1
    for actor in (CONSUMER, AGENT):
        with pytest.raises(PermissionDenied):
            act(database, registry.history, actor, company.id)
    with pytest.raises(NotFound):
        act(database, registry.history, ADMIN, str(uuid.uuid4()))


# --- listing ----------------------------------------------------------------------------------
def test_list_pages_through_every_match_once_in_name_order(database, registry):
    tag = uuid.uuid4().hex[:8]
    names = [f"Loja {tag} {n:02d}" for n in range(25)]
    for name in reversed(names):
        apply(database, registry, trade_name=name)
    seen, token, pages = [], "", 0
    while True:
        page = act(database, registry.list, name_contains=tag, page_size=10, page_token=token)
        seen += [c.trade_name for c in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == names and pages == 3
    assert len(act(database, registry.list, name_contains=tag).items) == 20  # default page size


def test_list_filters_by_status_segment_and_name_ignoring_case_and_accents(database, registry):
    tag = uuid.uuid4().hex[:8]
    bank = apply(database, registry, trade_name=f"Crédito Fácil {tag}")
    shop = apply(database, registry, trade_name=f"Mercado {tag}", legal_name=f"Comércio Açaí {tag} Ltda",
                 segment_code="comercio-eletronico")
    act(database, registry.approve, MANAGER, shop.id)

    def ids(**filters):
        return [c.id for c in act(database, registry.list, **filters).items]

    assert ids(name_contains=tag) == [bank.id, shop.id]
    assert ids(name_contains=f"CREDITO FACIL {tag}") == [bank.id]
    assert ids(name_contains=f"acai {tag}") == [shop.id]  # legal name is searched too
    assert ids(name_contains=tag, status="active") == [shop.id]
    assert ids(name_contains=tag, status="pending") == [bank.id]
    assert ids(name_contains=tag, segment_code=SEGMENT) == [bank.id]
    assert ids(name_contains=f"%{tag}") == []  # wildcards are literal characters


@pytest.mark.parametrize("filters, field", [
    ({"page_size": 101}, "page_size"), ({"page_size": -1}, "page_size"),
    ({"status": "closed"}, "status"), ({"segment_code": "nope"}, "segment_code"),
    ({"name_contains": "n" * 201}, "name_contains"),
    ({"page_token": "garbage!"}, "page_token"), ({"page_token": "eyJmIjoxfQ"}, "page_token"),
])
def test_list_rejects_bad_filters(database, registry, filters, field):
    with pytest.raises(InvalidArgument) as raised:
        act(database, registry.list, **filters)
    assert raised.value.field == field


def test_a_page_token_only_continues_the_query_it_came_from(database, registry):
    tag = uuid.uuid4().hex[:8]
    for n in range(3):
        apply(database, registry, trade_name=f"Token {tag} {n}")
    token = act(database, registry.list, name_contains=tag, page_size=1).next_page_token
    assert token
    assert len(act(database, registry.list, name_contains=tag, page_size=1, page_token=token).items) == 1
    with pytest.raises(InvalidArgument) as raised:
        act(database, registry.list, name_contains=tag, status="active", page_token=token)
    assert raised.value.field == "page_token"
    assert act(database, registry.list, page_size=100).items  # page_size 100 is allowed


# --- suggestions ------------------------------------------------------------------------------
def test_repeated_suggestions_count_up_and_managers_see_the_most_suggested_first(database, registry):
    popular, once = new_cnpj(), new_cnpj()
    for formatted in (popular, cnpj_format.format(popular), popular):
        suggestion = act(database, registry.suggest, CONSUMER, name="Loja Popular", tax_id=formatted)
    assert (suggestion.tax_id, suggestion.times_suggested, suggestion.first_suggested_at) == (popular, 3, NOW)
    assert act(database, registry.suggest, CONSUMER, name="Loja Rara", tax_id=once).times_suggested == 1

    ranking = []
    token = ""
    while True:
        page = act(database, registry.list_suggestions, MANAGER, page_size=1, page_token=token)
        ranking += [(s.tax_id, s.times_suggested) for s in page.items]
        token = page.next_page_token
        if not token:
            break
    assert ranking.index((popular, 3)) < ranking.index((once, 1))
    counts_in_order = [times for _, times in ranking]
    assert counts_in_order == sorted(counts_in_order, reverse=True)


def test_suggestion_rules(database, registry):
    registered = apply(database, registry)
    before = counts(database)
    for actor in (MANAGER, AGENT, ADMIN):
        with pytest.raises(PermissionDenied):
            act(database, registry.suggest, actor, name="Loja", tax_id=new_cnpj())
    for name, tax_id, field in [("Loja", with_wrong_check_digit(new_cnpj()), "tax_id"), ("", new_cnpj(), "name"),
                                ("n" * 201, new_cnpj(), "name")]:
        with pytest.raises(InvalidArgument) as raised:
            act(database, registry.suggest, CONSUMER, name=name, tax_id=tax_id)
        assert raised.value.field == field
    with pytest.raises(AlreadyExists):
        act(database, registry.suggest, CONSUMER, name="Já Participa", tax_id=registered.tax_id)
    for actor in (CONSUMER, AGENT, MONITOR):
        with pytest.raises(PermissionDenied):
            act(database, registry.list_suggestions, actor)
    assert counts(database) == before


# --- another country --------------------------------------------------------------------------
def test_an_argentine_deployment_takes_cuit_and_its_own_segments(database, tmp_path):
    registry = make_registry("AR", tmp_path)
    cuit = new_cuit()
    company = apply(database, registry, tax_id=f"{cuit[:2]}-{cuit[2:10]}-{cuit[10:]}", segment_code="alimentos-y-bebidas")
    assert company.tax_id == cuit
    with pytest.raises(InvalidArgument) as raised:
        apply(database, registry, tax_id=new_cnpj(), segment_code="alimentos-y-bebidas")
    assert raised.value.field == "tax_id"
    with pytest.raises(InvalidArgument) as raised:
        apply(database, registry, tax_id=new_cuit(), segment_code=SEGMENT)  # a Brazilian segment
    assert raised.value.field == "segment_code"
    act(database, registry.approve, MANAGER, company.id)
    assert outbox_events(database, company.id)[0]["country"] == "AR"
