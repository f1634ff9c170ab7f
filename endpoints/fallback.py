from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

from endpoints._serve import serve


class FallbackEndpoint(Endpoint):
    """Every other path and method: the core answers trailing-slash variants, CORS preflights, 404 and 405 as
    OpenAI errors instead of the SDK's plain-text 404."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return serve(self.session, r, settings)
