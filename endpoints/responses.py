from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

from endpoints._serve import serve


class ResponsesEndpoint(Endpoint):
    """POST /responses and GET /responses/<response_id>, with and without /v1."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return serve(self.session, r, settings)
