from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

from endpoints._serve import serve


class ChatCompletionsEndpoint(Endpoint):
    """POST /chat/completions and /v1/chat/completions."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return serve(self.session, r, settings)
