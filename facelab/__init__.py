"""facelab: a privacy-preserving face-search simulation lab.

Synthetic people only; real ONNX models, a real FAISS index and a real SQLite database,
so that the false matches, missed targets and review workload of city-scale face search
can be measured against a known ground truth.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
