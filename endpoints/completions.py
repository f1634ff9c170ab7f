from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

from endpoints._serve import serve


class CompletionsEndpoint(Endpoint):
    """POST /completions and /v1/completions (legacy Completions)."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return serve(self.session, r, settings)
