"""Public pages of the company registry: the participating companies and a company's profile.

The profile lives at /companies/<id>/profile because /companies/<id> is the public indicators page
(pages/public.py); the profile links to it when that page exists.
"""
from datetime import timezone

import grpc
from flask import Blueprint, abort, current_app, render_template, request, url_for

from concilia.company_registry.v1 import company_registry_pb2 as pb

from ..clients import call
from ..locale import lazy_gettext as _l

bp = Blueprint("pages_registry", __name__)

# The company statuses as people read them (translated when shown).
STATUS_NAMES = {"active": _l("Participating"), "suspended": _l("Suspended"), "pending": _l("Application under review")}
STATUS_WORDS = {pb.COMPANY_STATUS_PENDING: "pending", pb.COMPANY_STATUS_ACTIVE: "active",
                pb.COMPANY_STATUS_SUSPENDED: "suspended"}


def page_context() -> dict:
    pack = current_app.extensions["concilia"].pack
    return {"status_names": STATUS_NAMES, "company_id_label": pack.company_id.label}


def segment_names() -> dict:
    registry = current_app.extensions["concilia"].clients.company_registry
    return {s.code: s.name for s in call(registry.ListSegments, pb.ListSegmentsRequest()).segments}


@bp.get("/companies")
def companies():
    """Participating (active) companies, searchable by name and segment."""
    registry = current_app.extensions["concilia"].clients.company_registry
    segments = segment_names()
    segment = request.args.get("segment", "")
    if segment not in segments:
        segment = ""
    name = request.args.get("q", "")[:200]
    try:
        response = call(registry.ListCompanies, pb.ListCompaniesRequest(
            status=pb.COMPANY_STATUS_ACTIVE, segment_code=segment, name_contains=name, page_size=20,
            page_token=request.args.get("page_token", "")))
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        abort(400)  # a stale or edited page token
    return render_template("registry/companies.html", companies=response.companies, segments=segments,
                           segment=segment, q=name, next_page_token=response.next_page_token, **page_context())


@bp.get("/companies/<company_id>/profile")
def company(company_id):
    registry = current_app.extensions["concilia"].clients.company_registry
    try:
        found = call(registry.GetCompany, pb.GetCompanyRequest(company_id=company_id)).company
    except grpc.RpcError as error:
        if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            abort(404)
        raise
    indicators_url = (url_for("pages_public.company", company_id=found.id)
                      if "pages_public.company" in current_app.view_functions else "")
    return render_template("registry/company.html", company=found, status=STATUS_WORDS.get(found.status, ""),
                           indicators_url=indicators_url,
                           segment_name=segment_names().get(found.segment_code, found.segment_code),
                           since=found.created_at.ToDatetime(tzinfo=timezone.utc), **page_context())
