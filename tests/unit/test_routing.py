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
    assert resolve(method, path).name == name


def test_not_found_and_method_not_allowed():
    with pytest.raises(OpenAIError) as missing:
        resolve("POST", "/v1/embeddings")
    assert missing.value.status == 404 and missing.value.message == "Invalid URL (POST /v1/embeddings)"
    with pytest.raises(OpenAIError) as wrong:
        resolve("GET", "/v1/chat/completions")
    assert wrong.value.status == 405 and wrong.value.headers["Allow"] == "POST"
    with pytest.raises(OpenAIError):
        resolve("GET", "/")
