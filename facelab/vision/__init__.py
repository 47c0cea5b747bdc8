"""Vision: the ONNX models and where they run, face detection, alignment and embedding, and a
user's photo as a probe."""
