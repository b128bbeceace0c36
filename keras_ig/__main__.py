"""`python -m keras_ig`: the same as the `keras-ig` command."""

import sys

from keras_ig.cli import main

if __name__ == "__main__":
    sys.exit(main())
