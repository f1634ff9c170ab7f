"""Serving `GET /models` and `GET /models/{id}`: the endpoint exposes its app as one model."""

from __future__ import annotations

from openai_bridge.errors import model_not_found
from openai_bridge.http.messages import HttpResponse
from openai_bridge.settings import EndpointSettings
from openai_bridge.wire.chat import ModelCard, ModelList

# A fixed creation time: the model card must be stable across plugin restarts and copies.
MODEL_CREATED = 1_735_689_600
OWNER = "dify"


def model_card(settings: EndpointSettings) -> ModelCard:
    return ModelCard(id=settings.model_name, created=MODEL_CREATED, owned_by=OWNER)


def list_models(settings: EndpointSettings) -> HttpResponse:
    return HttpResponse.json(ModelList(data=[model_card(settings)]).model_dump())


def retrieve_model(settings: EndpointSettings, model_id: str) -> HttpResponse:
    if model_id != settings.model_name:
        raise model_not_found(model_id)
    return HttpResponse.json(model_card(settings).model_dump())
