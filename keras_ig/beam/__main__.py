"""`python -m keras_ig.beam`: see `keras_ig.beam.pipeline`."""

from __future__ import annotations

import os
import sys

# Before TensorFlow loads (here, and in DirectRunner workers, which inherit it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_ig.beam.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
