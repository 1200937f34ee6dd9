"""The registry's gRPC api: a thin servicer (proto <-> domain). `python -m services.company_registry.api`"""
import logging
import sys

from google.protobuf import json_format

from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.grpc_server import current_principal, optional_principal
from concilia.chassis.outbox import Outbox
from concilia.chassis.service import identity_verifier, run_api
from concilia.company_registry.v1 import company_registry_pb2 as pb
from concilia.company_registry.v1 import company_registry_pb2_grpc as pb_grpc

from . import models
from .domain import (ACTIVE, PENDING, SOURCE, SUSPENDED, AdhesionChange, Company, MandatoryAdhesion, Obligation,
                     Registry, Suggestion, Transition)
from .settings import Settings
from .taxonomy import Node, taxonomy_of

log = logging.getLogger(__name__)

STATUS_TO_PROTO = {PENDING: pb.COMPANY_STATUS_PENDING, ACTIVE: pb.COMPANY_STATUS_ACTIVE,
                   SUSPENDED: pb.COMPANY_STATUS_SUSPENDED}
STATUS_FROM_PROTO = {number: name for name, number in STATUS_TO_PROTO.items()}


def company_message(company: Company) -> pb.Company:
    message = pb.Company(id=company.id, tax_id=company.tax_id, legal_name=company.legal_name,
                         trade_name=company.trade_name, segment_code=company.segment_code,
                         group_id=company.group_id, group_name=company.group_name,
                         status=STATUS_TO_PROTO[company.status], status_reason=company.status_reason)
    message.created_at.FromDatetime(company.created_at)
    message.updated_at.FromDatetime(company.updated_at)
    return message


def suggestion_message(suggestion: Suggestion) -> pb.Suggestion:
    message = pb.Suggestion(tax_id=suggestion.tax_id, name=suggestion.name,
                            times_suggested=suggestion.times_suggested)
    message.first_suggested_at.FromDatetime(suggestion.first_suggested_at)
    return message


def transition_message(transition: Transition) -> pb.CompanyTransition:
    message = pb.CompanyTransition(from_status=STATUS_TO_PROTO.get(transition.from_status, 0),
                                   to_status=STATUS_TO_PROTO[transition.to_status], reason=transition.reason,
                                   actor_id=transition.actor_id, actor_role=transition.actor_role)
    message.occurred_at.FromDatetime(transition.occurred_at)
    return message


def obligation_message(obligation: Obligation, pack_version: str) -> pb.AdhesionObligation:
    message = pb.AdhesionObligation(
        tax_id=obligation.tax_id, company_id=obligation.company_id, name=obligation.name,
        company_status=STATUS_TO_PROTO.get(obligation.company_status, 0), obliged=obligation.obliged,
        adhered=obligation.adhered, pack_version=pack_version,
        reasons=[pb.AdhesionReason(rule_id=r.rule_id, description=r.description, waived=r.waived,
                                   waiver_reason=r.waiver_reason) for r in obligation.reasons])
    message.facts.update(obligation.facts)
    if obligation.facts_updated_at is not None:
        message.facts_updated_at.FromDatetime(obligation.facts_updated_at)
    return message


def adhesion_change_message(change: AdhesionChange) -> pb.AdhesionHistoryEntry:
    message = pb.AdhesionHistoryEntry(action=change.action, detail=change.detail, reason=change.reason,
                                      actor_id=change.actor_id, actor_role=change.actor_role)
    message.occurred_at.FromDatetime(change.occurred_at)
    return message


def node_message(node: Node) -> pb.TaxonomyNode:
    return pb.TaxonomyNode(code=node.code, name=node.name,
                           children=[node_message(child) for child in node.children.values()])


class CompanyRegistryServicer(pb_grpc.CompanyRegistryServiceServicer):
    def __init__(self, database: Database, registry: Registry):
        self.db = database
        self.registry = registry
        self.adhesion = MandatoryAdhesion(registry)

    def ApplyForAdhesion(self, request, context):
        actor = optional_principal()  # anyone may apply; a token, when sent, must be valid
        with self.db.transaction() as session:
            company = self.registry.apply(
                session, actor, tax_id=request.tax_id, legal_name=request.legal_name,
                trade_name=request.trade_name, segment_code=request.segment_code, group_name=request.group_name,
                terms_accepted=request.terms_accepted)
        log.info("company %s applied for adhesion", company.id)
        return pb.ApplyForAdhesionResponse(company=company_message(company))

    def ApproveAdhesion(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            company = self.registry.approve(session, actor, request.company_id)
        log.info("company %s approved", company.id)
        return pb.ApproveAdhesionResponse(company=company_message(company))

    def SuspendCompany(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            company = self.registry.suspend(session, actor, request.company_id, request.reason)
        log.info("company %s suspended", company.id)
        return pb.SuspendCompanyResponse(company=company_message(company))

    def ReinstateCompany(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            company = self.registry.reinstate(session, actor, request.company_id)
        log.info("company %s reinstated", company.id)
        return pb.ReinstateCompanyResponse(company=company_message(company))

    def GetCompany(self, request, context):
        with self.db.transaction() as session:
            company = self.registry.get(session, request.company_id)
        return pb.GetCompanyResponse(company=company_message(company))

    def ListCompanies(self, request, context):
        # An unknown enum number reaches the domain as text it rejects (INVALID_ARGUMENT status).
        status = STATUS_FROM_PROTO.get(request.status, str(request.status)) if request.status else ""
        with self.db.transaction() as session:
            page = self.registry.list(session, status=status, segment_code=request.segment_code,
                                      name_contains=request.name_contains, page_size=request.page_size,
                                      page_token=request.page_token)
        return pb.ListCompaniesResponse(companies=[company_message(c) for c in page.items],
                                        next_page_token=page.next_page_token)

    def ListSegments(self, request, context):
        segments = self.registry.segments()
        return pb.ListSegmentsResponse(segments=[pb.Segment(code=s.code, name=s.name) for s in segments])

    def GetTaxonomy(self, request, context):
        segment = self.registry.segment(request.segment_code)
        return pb.GetTaxonomyResponse(segment=pb.Segment(code=segment.code, name=segment.name),
                                      areas=[node_message(area) for area in segment.children.values()])

    def SuggestCompany(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            suggestion = self.registry.suggest(session, actor, name=request.name, tax_id=request.tax_id)
        return pb.SuggestCompanyResponse(suggestion=suggestion_message(suggestion))

    def ListSuggestions(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            page = self.registry.list_suggestions(session, actor, page_size=request.page_size,
                                                  page_token=request.page_token)
        return pb.ListSuggestionsResponse(suggestions=[suggestion_message(s) for s in page.items],
                                          next_page_token=page.next_page_token)

    def ListCompanyHistory(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            transitions = self.registry.history(session, actor, request.company_id)
        return pb.ListCompanyHistoryResponse(transitions=[transition_message(t) for t in transitions])

    # --- mandatory adhesion ------------------------------------------------------------------
    def _obligation(self, obligation: Obligation) -> pb.AdhesionObligation:
        return obligation_message(obligation, self.registry.pack.version)

    def RecordCompanyFacts(self, request, context):
        actor = current_principal()
        facts = json_format.MessageToDict(request.facts) if request.HasField("facts") else {}
        with self.db.transaction() as session:
            obligation = self.adhesion.record_facts(session, actor, company_id=request.company_id,
                                                    tax_id=request.tax_id, name=request.name, facts=facts)
        return pb.RecordCompanyFactsResponse(obligation=self._obligation(obligation))

    def GetAdhesionObligation(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            obligation, changes = self.adhesion.get(session, actor, company_id=request.company_id,
                                                    tax_id=request.tax_id)
        return pb.GetAdhesionObligationResponse(obligation=self._obligation(obligation),
                                                history=[adhesion_change_message(c) for c in changes])

    def GrantAdhesionWaiver(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            obligation = self.adhesion.grant_waiver(session, actor, company_id=request.company_id,
                                                    tax_id=request.tax_id, rule_id=request.rule_id,
                                                    reason=request.reason)
        log.info("adhesion rule %s waived", request.rule_id)
        return pb.GrantAdhesionWaiverResponse(obligation=self._obligation(obligation))

    def RevokeAdhesionWaiver(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            obligation = self.adhesion.revoke_waiver(session, actor, company_id=request.company_id,
                                                     tax_id=request.tax_id, rule_id=request.rule_id,
                                                     reason=request.reason)
        log.info("adhesion waiver of rule %s revoked", request.rule_id)
        return pb.RevokeAdhesionWaiverResponse(obligation=self._obligation(obligation))

    def ListMandatoryAdhesions(self, request, context):
        actor = current_principal()
        with self.db.transaction() as session:
            page = self.adhesion.list_mandatory(session, actor, page_size=request.page_size,
                                                page_token=request.page_token)
        return pb.ListMandatoryAdhesionsResponse(obligations=[self._obligation(o) for o in page.items],
                                                 next_page_token=page.next_page_token)


def build(settings: Settings):
    pack = load_pack(settings.country)
    taxonomy = taxonomy_of(pack)  # read once: a malformed pack stops the start, naming file and line
    database = Database(settings.database_url, pool_size=settings.max_workers)
    registry = Registry(pack, taxonomy, clock_from_env(), Outbox(models.outbox, SOURCE, pack.code))
    servicer = CompanyRegistryServicer(database, registry)

    def add_servicers(server):
        pb_grpc.add_CompanyRegistryServiceServicer_to_server(servicer, server)

    service_name = pb.DESCRIPTOR.services_by_name["CompanyRegistryService"].full_name
    return [service_name], add_servicers, identity_verifier(settings)


def main() -> int:
    return run_api("company_registry", Settings, build)


if __name__ == "__main__":
    sys.exit(main())
