"""facelab.vision.device: cpu / cuda / auto selection and the onnxruntime silent-fallback check."""

from __future__ import annotations

import logging

import faiss
import numpy as np
import pytest

from facelab.errors import ConfigError, DeviceError
from facelab.vision import device
from facelab.vision.device import (
    check_session_providers,
    cuda_problems,
    faiss_gpu_available,
    index_to_device,
    ort_providers,
    resolve_device,
)

CUDA_HERE = not cuda_problems()


@pytest.fixture
def no_gpu(monkeypatch):
    """Pretend this machine has CPU-only packages and no GPU, whatever it really has."""
    monkeypatch.setattr(device, "ort_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(device, "faiss_has_gpu", lambda: False)
    monkeypatch.setattr(device, "gpu_visible", lambda: False)
    monkeypatch.setattr(device, "faiss_gpu_available", lambda: False)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend both onnxruntime and faiss can use a visible GPU."""
    monkeypatch.setattr(
        device, "ort_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(device, "faiss_has_gpu", lambda: True)
    monkeypatch.setattr(device, "gpu_visible", lambda: True)


def test_cpu_is_always_cpu():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(" CPU ") == "cpu"


@pytest.mark.parametrize("bad", ["tpu", "gpu", "", "cuda:0", None])
def test_unknown_device_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="cpu, cuda, auto"):
        resolve_device(bad)
    with pytest.raises(ConfigError):
        ort_providers(bad)


def test_cuda_without_gpu_is_a_clear_device_error(no_gpu):
    with pytest.raises(DeviceError) as err:
        resolve_device("cuda")
    msg = str(err.value)
    assert msg.startswith("--device cuda asked for, but ")
    assert "onnxruntime has no CUDAExecutionProvider" in msg
    assert "faiss has no GPU support" in msg
    assert "no GPU is visible" in msg
    assert msg.endswith("install the gpu extra on a machine with an NVIDIA GPU")
    assert "\n" not in msg
    assert err.value.exit_code == 8


def test_cuda_reason_names_only_what_is_missing(monkeypatch, fake_gpu):
    monkeypatch.setattr(device, "faiss_has_gpu", lambda: False)
    with pytest.raises(DeviceError, match=r"but faiss has no GPU support; install"):
        resolve_device("cuda")
    assert resolve_device("cuda", need=("onnxruntime",)) == "cuda"
    with pytest.raises(ConfigError):
        resolve_device("cuda", need=("tensorflow",))


def test_auto_falls_back_to_cpu_and_logs(no_gpu, caplog):
    with caplog.at_level(logging.INFO, logger="facelab.vision.device"):
        assert resolve_device("auto") == "cpu"
    assert "using cpu" in caplog.text and "no GPU is visible" in caplog.text


def test_auto_picks_cuda_when_usable(fake_gpu, caplog):
    with caplog.at_level(logging.INFO, logger="facelab.vision.device"):
        assert resolve_device("auto") == "cuda"
        assert resolve_device("cuda") == "cuda"
    assert "using cuda" in caplog.text
    assert ort_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.skipif(CUDA_HERE, reason="this machine can use CUDA")
def test_real_environment_without_cuda():
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceError, match="install the gpu extra"):
        resolve_device("cuda")


def test_ort_providers():
    assert ort_providers("cpu") == ["CPUExecutionProvider"]
    assert ort_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


class FakeSession:
    def __init__(self, providers):
        self._providers = providers

    def get_providers(self):
        return list(self._providers)


def test_check_session_providers_catches_silent_fallback():
    with pytest.raises(DeviceError, match=r"\['CPUExecutionProvider'\]"):
        check_session_providers(FakeSession(["CPUExecutionProvider"]), "cuda")
    ok = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert check_session_providers(FakeSession(ok), "cuda") == ok
    assert check_session_providers(FakeSession(["CPUExecutionProvider"]), "cpu") == [
        "CPUExecutionProvider"
    ]


@pytest.mark.skipif(CUDA_HERE, reason="this machine can use CUDA")
def test_real_onnxruntime_session_falls_back_and_is_caught():
    """onnxruntime, asked for CUDA it does not have, quietly runs on CPU; we notice."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with pytest.warns(UserWarning):
        session = ort.InferenceSession(model.SerializeToString(), providers=ort_providers("cuda"))
    assert session.get_providers()[0] == "CPUExecutionProvider"
    with pytest.raises(DeviceError, match="falls back to CPU"):
        check_session_providers(session, "cuda")
    assert check_session_providers(session, "cpu") == session.get_providers()
    x = np.ones((1, 4), np.float32)
    assert np.array_equal(session.run(None, {"x": x})[0], x)


def test_index_to_device():
    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    assert index_to_device(idx, "cpu") is idx
    with pytest.raises(ConfigError):
        index_to_device(idx, "npu")


def test_index_to_cuda_without_gpu(no_gpu):
    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    with pytest.raises(DeviceError, match="faiss has no GPU support"):
        index_to_device(idx, "cuda")
    assert index_to_device(idx, "auto") is idx


@pytest.mark.skipif(not faiss_gpu_available(), reason="needs faiss with a GPU")
def test_index_to_cuda_searches_like_cpu():  # pragma: no cover - GPU machines only
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(128))
    idx.add_with_ids(x, np.arange(1000, dtype=np.int64) * 5)
    gpu = index_to_device(idx, "cuda")
    d_cpu, i_cpu = idx.search(x[:50], 5)
    d_gpu, i_gpu = gpu.search(x[:50], 5)
    np.testing.assert_allclose(d_gpu, d_cpu, atol=1e-4)
    assert (i_gpu[:, 0] == i_cpu[:, 0]).all()


def test_watchlist_use_device_cpu_is_a_no_op_and_cuda_fails_loudly():
    from facelab.errors import DeviceError
    from facelab.search.watchlist import WatchlistIndex

    rng = np.random.default_rng(4)
    g = rng.standard_normal((50, 128)).astype(np.float32)
    w = WatchlistIndex()
    w.add(np.arange(50), g)
    before = w.search(g[:5], 3)
    w.use_device("cpu")
    after = w.search(g[:5], 3)
    np.testing.assert_array_equal(before.ids, after.ids)
    if not faiss_gpu_available():
        with pytest.raises(DeviceError, match="cuda"):
            w.use_device("cuda")
