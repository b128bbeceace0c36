"""Run a script on two logical CPUs in a subprocess, for `MirroredStrategy` tests.

The logical devices must be set before TensorFlow initialises them, which a
test process has long done: hence a fresh interpreter. The script gets
`PREAMBLE` first (TensorFlow with two CPUs, `keras_ig` from this checkout)
and must print one JSON object as its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PREAMBLE = """\
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
sys.path.insert(0, sys.argv[1])
import keras_ig
"""


def run(body: str, tmp_path: Path, name: str = "two_cpus.py") -> Any:
    """Run `PREAMBLE + body` (dedented) and return its last line, parsed as JSON."""
    script = tmp_path / name
    script.write_text(PREAMBLE + textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, str(script), REPO], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
