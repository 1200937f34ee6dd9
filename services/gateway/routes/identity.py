"""Accounts and tokens: /api/v1/accounts, /api/v1/auth/*, /.well-known/jwks.json."""

from flask import Blueprint, current_app, jsonify, request

from concilia.identity.v1 import identity_pb2

from ..auth import require_api_token, token
from ..clients import call
from ..convert import from_json, int_arg, json_body, to_json
from ..errors import ApiError

bp = Blueprint("api_identity", __name__)


def identity():
    return current_app.extensions["concilia"].clients.identity


@bp.post("/api/v1/accounts")
def create_account():
    """Consumers register themselves; staff accounts need an admin's or manager's token."""
    request_message = from_json(json_body(), identity_pb2.CreateAccountRequest)
    response = call(identity().CreateAccount, request_message, token())
    return jsonify(to_json(response.account)), 201


@bp.get("/api/v1/accounts/me")
def me():
    response = call(identity().GetAccount, identity_pb2.GetAccountRequest(), require_api_token())
    return jsonify(to_json(response.account))


@bp.get("/api/v1/accounts/me/accesses")
def my_accesses():
    """Who other than me read my account (access audit, docs/adr/0020)."""
    return _accesses("")


@bp.get("/api/v1/accounts/<account_id>/accesses")
def accesses(account_id):
    return _accesses(account_id)


def _accesses(account_id: str):
    message = identity_pb2.ListAccessesRequest(account_id=account_id, page_size=int_arg("page_size", minimum=0),
                                               page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(identity().ListAccesses, message, require_api_token())))


@bp.get("/api/v1/accounts/<account_id>")
def get_account(account_id):
    response = call(identity().GetAccount, identity_pb2.GetAccountRequest(account_id=account_id), require_api_token())
    return jsonify(to_json(response.account))


@bp.post("/api/v1/accounts/me/erasure")
def erase_my_account():
    """Erasure on request: the owner confirms with the password (docs/adr/0018-erasure-on-request.md)."""
    message = from_json(json_body(), identity_pb2.EraseAccountRequest)
    if message.account_id:
        raise ApiError(400, "INVALID_ARGUMENT", "account_id: goes in the path, not the body", "account_id")
    response = call(identity().EraseAccount, message, require_api_token())
    return jsonify(to_json(response.account))


@bp.post("/api/v1/accounts/<account_id>/erasure")
def erase_account(account_id):
    """An admin erases an account on a request made elsewhere (the owner uses /accounts/me/erasure)."""
    response = call(identity().EraseAccount, identity_pb2.EraseAccountRequest(account_id=account_id),
                    require_api_token())
    return jsonify(to_json(response.account))


@bp.post("/api/v1/auth/login")
def login():
    response = call(identity().Login, from_json(json_body(), identity_pb2.LoginRequest))
    return jsonify({"tokens": to_json(response.tokens), "account": to_json(response.account)})


@bp.post("/api/v1/auth/refresh")
def refresh():
    response = call(identity().RefreshToken, from_json(json_body(), identity_pb2.RefreshTokenRequest))
    return jsonify({"tokens": to_json(response.tokens)})


@bp.post("/api/v1/auth/logout")
def logout():
    call(identity().RevokeToken, from_json(json_body(), identity_pb2.RevokeTokenRequest))
    return "", 204


@bp.get("/.well-known/jwks.json")
def jwks():
    response = call(identity().GetJwks, identity_pb2.GetJwksRequest())
    return current_app.response_class(response.jwks_json, mimetype="application/json",
                                      headers={"Cache-Control": "public, max-age=300"})
