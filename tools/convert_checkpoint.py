"""Convert a checkpoint into a verified Keras preset directory.

The same tool as the `keras-encoders-convert` console command; see
`python tools/convert_checkpoint.py --help`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_encoders.convert.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
