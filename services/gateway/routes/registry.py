"""Company registry REST API (documented in openapi/registry.yaml): companies and their adhesion,
market segments and taxonomy, consumers' suggestions of companies, mandatory adhesion (company
facts, the pack's rules, manager waivers)."""
from flask import Blueprint, current_app, jsonify, request

from concilia.company_registry.v1 import company_registry_pb2 as pb

from ..auth import require_api_token, token
from ..clients import call
from ..convert import from_json, int_arg, json_body, to_json, word_to_enum
from ..errors import ApiError

bp = Blueprint("registry", __name__, url_prefix="/api/v1")


def registry():
    return current_app.extensions["concilia"].clients.company_registry


def with_path_id(message_class, company_id: str):
    """A request from the JSON body (reason, ...) plus the company id taken from the path only."""
    body = json_body()
    if "company_id" in body:
        raise ApiError(400, "INVALID_ARGUMENT", "company_id: goes in the path, not the body", "company_id")
    message = from_json(body, message_class)
    message.company_id = company_id
    return message


# --- companies --------------------------------------------------------------------------------
@bp.post("/companies")
def apply_for_adhesion():
    """Anyone may apply (a signed-in caller's token is forwarded and recorded as the applicant)."""
    response = call(registry().ApplyForAdhesion, from_json(json_body(), pb.ApplyForAdhesionRequest), token())
    return jsonify(to_json(response)), 201


@bp.get("/companies")
def list_companies():
    status_field = pb.ListCompaniesRequest.DESCRIPTOR.fields_by_name["status"]
    message = pb.ListCompaniesRequest(
        status=word_to_enum(status_field.enum_type, request.args.get("status", ""), "status"),
        segment_code=request.args.get("segment_code", ""), name_contains=request.args.get("name_contains", ""),
        page_size=int_arg("page_size"), page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(registry().ListCompanies, message)))


@bp.get("/companies/<company_id>")
def get_company(company_id):
    return jsonify(to_json(call(registry().GetCompany, pb.GetCompanyRequest(company_id=company_id))))


@bp.post("/companies/<company_id>/approve")
def approve(company_id):
    message = with_path_id(pb.ApproveAdhesionRequest, company_id)
    return jsonify(to_json(call(registry().ApproveAdhesion, message, require_api_token())))


@bp.post("/companies/<company_id>/suspend")
def suspend(company_id):
    message = with_path_id(pb.SuspendCompanyRequest, company_id)
    return jsonify(to_json(call(registry().SuspendCompany, message, require_api_token())))


@bp.post("/companies/<company_id>/reinstate")
def reinstate(company_id):
    message = with_path_id(pb.ReinstateCompanyRequest, company_id)
    return jsonify(to_json(call(registry().ReinstateCompany, message, require_api_token())))


@bp.get("/companies/<company_id>/history")
def company_history(company_id):
    message = pb.ListCompanyHistoryRequest(company_id=company_id)
    return jsonify(to_json(call(registry().ListCompanyHistory, message, require_api_token())))


# --- segments and taxonomy --------------------------------------------------------------------
@bp.get("/segments")
def list_segments():
    return jsonify(to_json(call(registry().ListSegments, pb.ListSegmentsRequest())))


@bp.get("/segments/<segment_code>/taxonomy")
def get_taxonomy(segment_code):
    return jsonify(to_json(call(registry().GetTaxonomy, pb.GetTaxonomyRequest(segment_code=segment_code))))


# --- suggestions ------------------------------------------------------------------------------
@bp.post("/company-suggestions")
def suggest_company():
    message = from_json(json_body(), pb.SuggestCompanyRequest)
    return jsonify(to_json(call(registry().SuggestCompany, message, require_api_token()))), 201


@bp.get("/company-suggestions")
def list_suggestions():
    message = pb.ListSuggestionsRequest(page_size=int_arg("page_size"), page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(registry().ListSuggestions, message, require_api_token())))


# --- mandatory adhesion -----------------------------------------------------------------------
# Keyed by the company's tax id (compact form), so facts can be kept for a company not on the
# platform yet; the registry resolves registered companies by it.
def with_path_tax_id(message_class, tax_id: str):
    body = json_body()
    for key in ("tax_id", "company_id"):
        if key in body:
            raise ApiError(400, "INVALID_ARGUMENT", f"{key}: the tax id goes in the path, not the body", key)
    message = from_json(body, message_class)
    message.tax_id = tax_id
    return message


@bp.get("/mandatory-adhesions")
def list_mandatory_adhesions():
    message = pb.ListMandatoryAdhesionsRequest(page_size=int_arg("page_size"),
                                               page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(registry().ListMandatoryAdhesions, message, require_api_token())))


@bp.get("/adhesion-obligations/<tax_id>")
def get_adhesion_obligation(tax_id):
    message = pb.GetAdhesionObligationRequest(tax_id=tax_id)
    return jsonify(to_json(call(registry().GetAdhesionObligation, message, require_api_token())))


@bp.post("/adhesion-obligations/<tax_id>/facts")
def record_company_facts(tax_id):
    message = with_path_tax_id(pb.RecordCompanyFactsRequest, tax_id)
    return jsonify(to_json(call(registry().RecordCompanyFacts, message, require_api_token())))


@bp.post("/adhesion-obligations/<tax_id>/waivers")
def grant_adhesion_waiver(tax_id):
    message = with_path_tax_id(pb.GrantAdhesionWaiverRequest, tax_id)
    return jsonify(to_json(call(registry().GrantAdhesionWaiver, message, require_api_token()))), 201


@bp.post("/adhesion-obligations/<tax_id>/waivers/<rule_id>/revocation")
def revoke_adhesion_waiver(tax_id, rule_id):
    body = json_body()
    if "rule_id" in body:
        raise ApiError(400, "INVALID_ARGUMENT", "rule_id: goes in the path, not the body", "rule_id")
    for key in ("tax_id", "company_id"):
        if key in body:
            raise ApiError(400, "INVALID_ARGUMENT", f"{key}: the tax id goes in the path, not the body", key)
    message = from_json(body, pb.RevokeAdhesionWaiverRequest)
    message.tax_id, message.rule_id = tax_id, rule_id
    return jsonify(to_json(call(registry().RevokeAdhesionWaiver, message, require_api_token())))
