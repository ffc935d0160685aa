"""Code a fault test's worker subprocess runs (named in its environment)."""

import os
import time
from pathlib import Path


def stalling_embedder(texts):
    """Say that the snapshot build reached its embedding step (a file), then hang until killed."""
    Path(os.environ["FAULTS_MARKER"]).write_text(str(os.getpid()))
    time.sleep(120)
    raise RuntimeError("a stalling embedder was not killed")
