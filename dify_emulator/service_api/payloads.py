"""The request bodies of the run routes, validated as Dify validates them (pydantic models in
controllers/service_api/app/completion.py and workflow.py): a body that does not fit is a ValidationError, which is
a ValueError, so Dify answers 400 `invalid_param` with pydantic's own text."""

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from .errors import invalid_param


class CompletionRequestPayload(BaseModel):
    inputs: dict[str, Any]
    query: str = Field(default="")
    files: list[dict[str, Any]] | None = None
    response_mode: Literal["blocking", "streaming"] | None = None
    retriever_from: str = Field(default="dev")


class ChatRequestPayload(BaseModel):
    inputs: dict[str, Any]
    query: str
    files: list[dict[str, Any]] | None = None
    response_mode: Literal["blocking", "streaming"] | None = None
    conversation_id: str | None = None
    retriever_from: str = Field(default="dev")
    auto_generate_name: bool = Field(default=True)
    workflow_id: str | None = None

    @field_validator("conversation_id", mode="before")
    @classmethod
    def normalize_conversation_id(cls, value: Any) -> str | None:
        """Blank is a new conversation; anything else must be a UUID."""
        if isinstance(value, str):
            value = value.strip()
        if not value:
            return None
        try:
            return str(uuid.UUID(str(value)))
        except ValueError as exc:
            raise ValueError("conversation_id must be a valid UUID") from exc


class WorkflowRunPayload(BaseModel):
    inputs: dict[str, Any]
    files: list[dict[str, Any]] | None = None
    response_mode: Literal["blocking", "streaming"] | None = None


def parse[T: BaseModel](model: type[T], body: dict[str, Any]) -> T:
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise invalid_param(str(e)) from None
