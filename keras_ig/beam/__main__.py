"""`python -m keras_ig.beam`: see `keras_ig.beam.pipeline`."""

from __future__ import annotations

import sys

from keras_ig.beam.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
