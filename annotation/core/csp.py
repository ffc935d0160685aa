"""The Content-Security-Policy header: only our own scripts and styles (no inline script or style, no
eval), images from us or `data:`, no plugins, no framing, forms posting only to us.

`ContentSecurityPolicy` (a middleware) adds it to every response that has none. ReDoc (/api/redoc/)
styles itself with styled-components, which injects `<style>` elements at run time, and parses the
schema in a `blob:` worker: that one page gets `'unsafe-inline'` styles and `blob:` workers, its scripts
still only ours. Templates keep no inline `<script>` or `style` (tests/test_csp.py checks them all).
"""

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
REDOC_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# Path prefixes with their own policy (the first that matches wins).
RELAXED = (("/api/redoc/", REDOC_POLICY),)
HEADER = "Content-Security-Policy"


def policy_for(path: str) -> str:
    for prefix, policy in RELAXED:
        if path.startswith(prefix):
            return policy
    return POLICY


class ContentSecurityPolicy:
    """Middleware: sends `policy_for(request.path)` unless the view set its own header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(request.path)
        return response
