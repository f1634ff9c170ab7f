"""The request dispatcher: routing, CORS, auth and request ids around the route handlers.

This is the only entry point an adapter calls, and the one place errors become responses: every layer below
raises the OpenAIError it means (or, once a stream has begun, sends it as the stream's last frame), and whatever
happens inside, the caller gets an HttpResponse with an OpenAI error envelope, never an exception (the SDK would
turn one into a plain-text 404 or 500).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from openai_bridge.apis.chat.service import chat_completions
from openai_bridge.apis.completions.service import completions
from openai_bridge.apis.models import list_models, retrieve_model
from openai_bridge.apis.responses.service import create_response, retrieve_response
from openai_bridge.dify.form import AppFormCache
from openai_bridge.errors import OpenAIError, endpoint_not_configured, internal_error
from openai_bridge.http.auth import check_api_key
from openai_bridge.http.cors import cors_headers, preflight
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.http.routing import Route, resolve
from openai_bridge.ids import new_id
from openai_bridge.ports import DifyPort
from openai_bridge.run.timing import Timing
from openai_bridge.settings import EndpointSettings, settings_of

logger = logging.getLogger(__name__)

_FORMS = AppFormCache()
_TIMING = Timing.from_env(os.environ)


def handle(request: IncomingRequest, raw_settings: Mapping[str, Any], dify: DifyPort,
           forms: AppFormCache = _FORMS, timing: Timing = _TIMING) -> HttpResponse:
    request_id = f"req_{new_id()}"
    settings = settings_of(raw_settings)
    try:
        response = _dispatch(request, settings, dify, forms, timing)
    except OpenAIError as error:
        response = HttpResponse.error(error)
    except Exception:
        logger.exception("unexpected failure in %s %s (%s)", request.method, request.path, request_id)
        response = HttpResponse.error(internal_error())
    # Every answer, errors included: a browser app can only read why its request failed with these.
    response.headers |= cors_headers(request, settings.cors_allow_origins)
    response.headers["x-request-id"] = request_id
    if request.method == "HEAD":
        response.body = b""
    return response


def _dispatch(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
              timing: Timing) -> HttpResponse:
    route = resolve(request.method, request.path)
    if route.name == "preflight":
        return preflight(request, settings.cors_allow_origins, route.allowed)
    check_api_key(request, settings.api_key)
    return _serve(route, request, settings, dify, forms, timing)


def _serve(route: Route, request: IncomingRequest, settings: EndpointSettings, dify: DifyPort,
           forms: AppFormCache, timing: Timing) -> HttpResponse:
    if route.name == "list_models":
        return list_models(settings)
    if route.name == "retrieve_model":
        return retrieve_model(settings, route.params["id"])
    if route.name == "retrieve_response":
        return retrieve_response(route.params["id"])
    if not settings.app_id:
        raise endpoint_not_configured("it has no Dify app selected")
    if route.name == "chat_completions":
        return chat_completions(request, settings, dify, forms, timing)
    if route.name == "create_response":
        return create_response(request, settings, dify, forms, timing)
    if route.name == "completions":
        return completions(request, settings, dify, forms, timing)
    raise AssertionError(f"route {route.name} has no handler")
