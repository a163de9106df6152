"""Model loading (every way a user names weights) and embedding, all offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import torch_threads

from clipground.errors import ModelError, UsageError
from clipground.model import InputSpec, ModelSpec, load_encoder

TINY = Path(__file__).parent / "data" / "tiny_clip"


@pytest.fixture(scope="module")
def tiny():
    import torch

    torch.manual_seed(0)
    return load_encoder(ModelSpec(name=f"local-dir:{TINY}", device="cpu"))


def test_frames_embed_to_unit_vectors(tiny) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 32, 57, 3), dtype=np.uint8)
    emb = tiny.encode_frames(pixels)
    assert emb.shape == (5, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_texts_embed_to_unit_vectors(tiny) -> None:
    emb = tiny.encode_texts(["a red circle", "a blue square"])
    assert emb.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(emb[0], emb[1])


def test_token_count_includes_start_and_end(tiny) -> None:
    assert tiny.count_tokens("a red circle") == 5
    assert tiny.context_length == 16


def test_empty_frame_batch(tiny) -> None:
    assert tiny.encode_frames(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 32)


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [("shortest", (1280, 720), (57, 32)), ("squash", (1280, 720), (32, 32)), ("longest", (720, 1280), (18, 32))],
)
def test_decode_size(mode: str, size: tuple[int, int], expected: tuple[int, int]) -> None:
    spec = InputSpec(size=32, resize_mode=mode, mean=(0, 0, 0), std=(1, 1, 1))
    assert spec.decode_size(*size) == expected


def test_checkpoint_file_loads_into_config_architecture(tmp_path, tiny) -> None:
    import torch

    path = tmp_path / "weights.pt"
    torch.save(tiny.model.state_dict(), path)
    torch.manual_seed(123)  # a different random init, overwritten by the checkpoint
    again = load_encoder(ModelSpec(name=f"local-dir:{TINY}", checkpoint=str(path), device="cpu"))
    text = ["a green cross"]
    np.testing.assert_allclose(again.encode_texts(text), tiny.encode_texts(text), atol=1e-6)


def test_checkpoint_folder_in_open_clip_layout(tmp_path, tiny) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text((TINY / "open_clip_config.json").read_text())
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, folder / "open_clip_model.safetensors")
    again = load_encoder(ModelSpec(name="ignored", checkpoint=str(folder), device="cpu"))
    np.testing.assert_allclose(again.encode_texts(["x"]), tiny.encode_texts(["x"]), atol=1e-6)


def test_builtin_architecture_with_random_weights() -> None:
    enc = load_encoder(ModelSpec(name="ViT-B-32", pretrained=None, device="cpu"))
    assert enc.input.size == 224 and enc.embed_dim == 512
    assert enc.identity == "ViT-B-32/random"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ModelSpec(name="ViT-Nope-1", device="cpu"), "unknown model"),
        (ModelSpec(name="ViT-B-32", pretrained="no_such_tag", device="cpu"), "unknown pretrained tag"),
        (ModelSpec(name="ViT-B-32", checkpoint="/no/such/file.pt", device="cpu"), "does not exist"),
    ],
)
def test_bad_model_specs(spec: ModelSpec, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_encoder(spec)


def test_corrupt_checkpoint_is_a_model_error(tmp_path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(ModelError, match="broken.pt"):
        load_encoder(ModelSpec(name=f"local-dir:{TINY}", checkpoint=str(path), device="cpu"))


def test_wrong_architecture_checkpoint_is_a_model_error(tmp_path) -> None:
    import torch

    path = tmp_path / "other.pt"
    torch.save({"visual.conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match="other.pt"):
        load_encoder(ModelSpec(name=f"local-dir:{TINY}", checkpoint=str(path), device="cpu"))


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty hub cache and no network: huggingface_hub reads these at call time."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path))


def test_undownloadable_weights_say_how_to_supply_them(offline_hub) -> None:
    with pytest.raises(ModelError, match="--checkpoint"):
        load_encoder(ModelSpec(name="ViT-B-32", pretrained="laion2b_s34b_b79k", device="cpu"))


def test_offline_hub_model_is_a_model_error(offline_hub) -> None:
    with pytest.raises(ModelError):
        load_encoder(ModelSpec(name="hf-hub:nobody/nothing", device="cpu"))


def test_bad_device_and_name() -> None:
    with pytest.raises(UsageError):
        ModelSpec(device="tpu")
    with pytest.raises(UsageError):
        ModelSpec(name=" ")


@pytest.mark.parametrize("device", ["cuda:", "cuda:x", "cuda:-1", "cuda0"])
def test_malformed_cuda_index_is_a_usage_error(device: str) -> None:
    with pytest.raises(UsageError, match="cuda:N"):
        ModelSpec(device=device)


def test_cuda_index_past_the_gpu_count_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from clipground.model import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == "cuda:1"
    with pytest.raises(ModelError, match=r"has 2 CUDA GPU\(s\); use cuda:0 to cuda:1"):
        pick_device("cuda:2")


def test_cuda_requested_without_gpu_is_a_model_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the check is for CPU-only machines")
    with pytest.raises(ModelError, match="no CUDA"):
        load_encoder(ModelSpec(name=f"local-dir:{TINY}", device="cuda"))


# ---------------------------------------------------------------------------------------------
# Precision


@pytest.mark.parametrize(
    ("requested", "device", "native_bf16", "expected"),
    [
        ("auto", "cuda", False, "fp16"),
        ("auto", "cuda:1", True, "fp16"),
        ("auto", "cpu", True, "bf16"),
        ("auto", "cpu", False, "fp32"),
        ("auto", "mps", True, "fp32"),
        ("bf16", "cpu", False, "bf16"),  # asked for: honoured (slow where the CPU emulates it)
        ("fp32", "cuda", True, "fp32"),
    ],
)
def test_precision_resolution(requested: str, device: str, native_bf16: bool, expected: str) -> None:
    from clipground import model

    assert model.pick_precision(requested, device, lambda: native_bf16) == expected


def test_fp16_on_cpu_and_unknown_precisions_are_usage_errors() -> None:
    from clipground.model import pick_precision

    with pytest.raises(UsageError, match="needs a GPU"):
        pick_precision("fp16", "cpu")
    with pytest.raises(UsageError, match="unknown precision 'fp8'"):
        ModelSpec(precision="fp8")


def test_bf16_embeddings_are_close_to_fp32() -> None:
    import torch

    def encoder(precision: str):
        torch.manual_seed(0)
        return load_encoder(ModelSpec(name=f"local-dir:{TINY}", device="cpu", precision=precision))

    fp32, bf16 = encoder("fp32"), encoder("bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    pixels = np.random.default_rng(1).integers(0, 256, (6, 32, 57, 3), dtype=np.uint8)
    frames = (fp32.encode_frames(pixels), bf16.encode_frames(pixels))
    texts = (fp32.encode_texts(["a red circle", "a dog"]), bf16.encode_texts(["a red circle", "a dog"]))
    for a, b in (frames, texts):
        assert b.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
        assert np.min(np.sum(a * b, axis=1)) > 0.99  # cosine between the two precisions


def test_default_streams_follow_torch_threads(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert tiny.default_streams() == 2
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert tiny.default_streams() == 1


def test_streams_give_each_thread_its_share_and_restore_torch(tiny) -> None:
    import threading

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        seen = []
        with tiny.streams(2) as setup:
            assert setup is not None

            def run() -> None:
                setup()
                seen.append(torch.get_num_threads())
                tiny.encode_frames(np.zeros((2, 32, 57, 3), np.uint8))

            threads = [threading.Thread(target=run) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert seen == [2, 2]
        assert torch.get_num_threads() == 4
        assert torch_threads() == 4  # the process-wide count too, not only this thread's
        with tiny.streams(1) as setup:
            assert setup is None
    finally:
        torch.set_num_threads(before)
