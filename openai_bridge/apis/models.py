"""Serving `GET /models` and `GET /models/{id}`: each app the endpoint serves is one model."""

from __future__ import annotations

from openai_bridge.errors import model_not_found
from openai_bridge.http.messages import HttpResponse
from openai_bridge.settings import EndpointSettings
from openai_bridge.wire.chat import ModelCard, ModelList

# A fixed creation time: the model card must be stable across plugin restarts and copies.
MODEL_CREATED = 1_735_689_600
OWNER = "dify"


def model_cards(settings: EndpointSettings) -> list[ModelCard]:
    # An endpoint without an app still lists its main model name: a client's connection check then succeeds, and
    # its first request gets the 503 that says what to configure.
    names = [app.model_name for app in settings.apps] or [settings.model_name]
    return [ModelCard(id=name, created=MODEL_CREATED, owned_by=OWNER) for name in names]


def list_models(settings: EndpointSettings) -> HttpResponse:
    return HttpResponse.json(ModelList(data=model_cards(settings)).model_dump())


def retrieve_model(settings: EndpointSettings, model_id: str) -> HttpResponse:
    card = next((c for c in model_cards(settings) if c.id == model_id), None)
    if card is None:
        raise model_not_found(model_id)
    return HttpResponse.json(card.model_dump())
