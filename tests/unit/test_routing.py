import pytest

from openai_bridge.errors import OpenAIError
from openai_bridge.http.routing import resolve


@pytest.mark.parametrize(("method", "path", "name"), [
    ("POST", "/chat/completions", "chat_completions"),
    ("POST", "/v1/chat/completions", "chat_completions"),
    ("POST", "/v1/chat/completions/", "chat_completions"),
    ("GET", "/models", "list_models"),
    ("GET", "/v1/models/", "list_models"),
    ("HEAD", "/models", "list_models"),
    ("GET", "/v1/models/dify-app", "retrieve_model"),
    ("OPTIONS", "/v1/chat/completions", "preflight"),
])
def test_routes(method, path, name):
    route = resolve(method, path)
    assert not isinstance(route, OpenAIError) and route.name == name


def test_not_found_and_method_not_allowed():
    missing = resolve("POST", "/v1/embeddings")
    assert isinstance(missing, OpenAIError) and missing.status == 404
    assert missing.message == "Invalid URL (POST /v1/embeddings)"
    wrong = resolve("GET", "/v1/chat/completions")
    assert isinstance(wrong, OpenAIError) and wrong.status == 405 and wrong.headers["Allow"] == "POST"
    assert isinstance(resolve("GET", "/"), OpenAIError)
