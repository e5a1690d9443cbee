"""`python -m keras_encoders.uie ...`: the `keras-encoders-uie` command."""

import sys

from keras_encoders.uie.cli import main

if __name__ == "__main__":
    sys.exit(main())
