"""Initializers against their closed-form moments and bounds, orthogonality, seeding,
Martens's sparsity pattern and the look-up rules."""

from __future__ import annotations

import json
import math

import pytest
import torch

from deepdescent import initializers as init

TRUNC = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]
SHAPE = (400, 300)  # 120 000 draws: sample std within ~0.5 % of the truth


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((20, 30), (20, 30)),
        ((3, 3, 16, 32), (144, 288)),
        ((5, 4, 8), (20, 40)),
    ],
)
def test_compute_fans_follows_keras_layout(shape, fans):
    assert init.compute_fans(shape) == fans


def _check_moments(values: torch.Tensor, std: float, bound: float | None = None):
    n = values.numel()
    assert abs(values.mean().item()) < 5 * std / math.sqrt(n)
    assert values.std().item() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert values.abs().max().item() <= bound * (1 + 1e-6)
        assert values.abs().max().item() > 0.97 * bound  # the bound is reached, not undershot


FAN_IN, FAN_OUT = SHAPE
VARIANCE_CASES = [
    # initializer, target std, hard bound on |w| (None: unbounded normal)
    (init.GlorotUniform(), math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.GlorotNormal(), math.sqrt(2 / (FAN_IN + FAN_OUT)), 2 * math.sqrt(2 / 700) / TRUNC),
    (init.HeUniform(), math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    (init.HeNormal(), math.sqrt(2 / FAN_IN), 2 * math.sqrt(2 / FAN_IN) / TRUNC),
    (init.LecunUniform(), math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
    (init.LecunNormal(), math.sqrt(1 / FAN_IN), 2 * math.sqrt(1 / FAN_IN) / TRUNC),
    (
        init.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal"),
        math.sqrt(3 / FAN_OUT),
        None,
    ),
    (
        init.VarianceScaling(scale=0.5, mode="fan_avg", distribution="uniform"),
        math.sqrt(0.5 / 350),
        math.sqrt(1.5 / 350),
    ),
    (init.RandomNormal(mean=0.0, stddev=0.3), 0.3, None),
    (init.RandomUniform(minval=-0.2, maxval=0.2), 0.2 / math.sqrt(3), 0.2),
    (init.TruncatedNormal(stddev=0.1), 0.1 * TRUNC, 0.2),
]


@pytest.mark.parametrize(
    ("initializer", "std", "bound"), VARIANCE_CASES, ids=[repr(c[0]) for c in VARIANCE_CASES]
)
def test_moments_and_bounds_match_closed_forms(initializer, std, bound):
    torch.manual_seed(0)
    values = initializer(SHAPE)
    assert values.shape == SHAPE and values.dtype == torch.float32
    _check_moments(values, std, bound)


def test_conv_kernel_uses_receptive_field_times_channels():
    torch.manual_seed(1)
    values = init.HeNormal()((5, 5, 16, 64))  # fan_in = 5·5·16 = 400
    _check_moments(values, math.sqrt(2 / 400))


def test_random_normal_and_uniform_shift_to_their_centre():
    torch.manual_seed(2)
    normal = init.RandomNormal(mean=1.5, stddev=0.1)(SHAPE)
    assert normal.mean().item() == pytest.approx(1.5, abs=1e-3)
    uniform = init.RandomUniform(minval=2.0, maxval=3.0)(SHAPE)
    assert uniform.min().item() >= 2.0 and uniform.max().item() <= 3.0
    truncated = init.TruncatedNormal(mean=-1.0, stddev=0.5)(SHAPE)
    assert truncated.min().item() >= -2.0 and truncated.max().item() <= 0.0


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (30, 30), (3, 3, 4, 8)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_has_orthonormal_rows_or_columns(shape, gain):
    w = init.Orthogonal(gain=gain, seed=3)(shape, dtype=torch.float64)
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    torch.testing.assert_close(small, gain**2 * torch.eye(small.shape[0], dtype=torch.float64))


def test_orthogonal_is_sign_symmetric_like_haar_measure():
    # Without the diag(R) sign correction, Householder QR returns Q[0, 0] < 0 every time.
    torch.manual_seed(6)
    corners = torch.stack([init.Orthogonal()((8, 8))[0, 0] for _ in range(400)])
    assert 0.4 < (corners > 0).float().mean().item() < 0.6


def test_orthogonal_needs_a_matrix():
    with pytest.raises(ValueError, match=r"Invalid shape: \(5,\) \(expected rank >= 2"):
        init.Orthogonal()((5,))


def test_gated_bias_sets_each_gate_block():
    """Keras's unit_forget_bias: an LSTM bias [i, f, c, o] of 4·3 entries, f at 1."""
    bias = init.GatedBias()((12,), dtype=torch.float64)
    expected = torch.tensor([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(bias, expected)
    gru = init.GatedBias(("update", "reset", "candidate"), {"reset": -0.5}, base="ones")
    torch.testing.assert_close(gru((6,)), torch.tensor([1.0, 1, -0.5, -0.5, 1, 1]))
    assert gru.block("candidate", 6) == slice(4, 6)


def test_gated_bias_config_round_trip_and_errors():
    gated = init.GatedBias(("a", "forget"), {"forget": 2.0}, base=init.Constant(0.5))
    again = init.get(json.loads(json.dumps(init.serialize(gated))))
    torch.testing.assert_close(again((4,)), gated((4,)))
    with pytest.raises(ValueError, match=r"Invalid shape: \(7,\).*multiple of 4"):
        init.GatedBias()((7,))
    with pytest.raises(ValueError, match=r"Invalid shape.*rank 1"):
        init.GatedBias()((4, 4))
    with pytest.raises(ValueError, match="Invalid values"):
        init.GatedBias(("input", "output"))
    with pytest.raises(ValueError, match="Invalid gates"):
        init.GatedBias(("a", "a"))


def test_identity_and_constants():
    torch.testing.assert_close(init.Identity(gain=3.0)((2, 3)), 3.0 * torch.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        init.Identity()((2, 2, 2))
    assert init.Zeros()((2, 3), dtype=torch.int64).eq(0).all()
    assert init.Ones()((4,)).eq(1).all()
    assert init.Constant(0.25)((3, 3), dtype=torch.float64).eq(0.25).all()


@pytest.mark.parametrize(
    ("shape", "nonzero", "per_unit"),
    [((784, 32), 15, 15), ((10, 6), 10, 10), ((3, 3, 8, 5), 4, 4), ((40, 1), 1, 1)],
)
def test_sparse_init_gives_each_unit_exactly_k_incoming_weights(shape, nonzero, per_unit):
    w = init.SparseInit(nonzero=nonzero, seed=4)(shape)
    incoming = w.reshape(-1, shape[-1])
    assert (incoming != 0).sum(dim=0).tolist() == [per_unit] * shape[-1]


def test_sparse_init_values_and_positions_are_random():
    torch.manual_seed(5)
    w = init.SparseInit(nonzero=15, stddev=2.0)((500, 400))
    nonzero = w[w != 0]
    assert nonzero.numel() == 15 * 400
    assert nonzero.mean().abs().item() < 5 * 2.0 / math.sqrt(nonzero.numel())
    assert nonzero.std().item() == pytest.approx(2.0, rel=0.05)
    hits_per_input = (w != 0).sum(dim=1).float()
    assert hits_per_input.mean().item() == pytest.approx(15 * 400 / 500)
    assert hits_per_input.max().item() < 40  # spread over the inputs, not clumped


def test_sparse_init_refuses_biases_and_bad_k():
    with pytest.raises(ValueError, match="rank >= 2"):
        init.SparseInit()((10,))
    with pytest.raises(ValueError, match="nonzero must be a positive int"):
        init.SparseInit(nonzero=0)


def test_sparse_init_refuses_more_nonzeros_than_inputs():
    """A unit with fan_in = 10 cannot have 15 incoming weights: the error names k, the
    fan-in and the shape, instead of silently using fewer."""
    expected = r"Invalid nonzero: 15 \(expected at most fan_in = 10.*\(10, 6\)"
    with pytest.raises(ValueError, match=expected):
        init.SparseInit(nonzero=15)((10, 6))


RANDOM = [
    init.RandomNormal,
    init.RandomUniform,
    init.TruncatedNormal,
    init.VarianceScaling,
    init.GlorotUniform,
    init.GlorotNormal,
    init.HeUniform,
    init.HeNormal,
    init.LecunUniform,
    init.LecunNormal,
    init.Orthogonal,
    init.SparseInit,
]


@pytest.mark.parametrize("cls", RANDOM, ids=[c.__name__ for c in RANDOM])
def test_seed_makes_draws_reproducible(cls):
    seeded = cls(seed=11)
    a = seeded((30, 20))
    torch.testing.assert_close(a, seeded((30, 20)), rtol=0, atol=0)  # every call, as Keras 3
    torch.testing.assert_close(a, cls(seed=11)((30, 20)), rtol=0, atol=0)
    assert not torch.equal(a, cls(seed=12)((30, 20)))
    unseeded = cls()
    torch.manual_seed(7)
    first = unseeded((30, 20))
    assert not torch.equal(first, unseeded((30, 20)))
    torch.manual_seed(7)
    torch.testing.assert_close(first, unseeded((30, 20)), rtol=0, atol=0)


@pytest.mark.parametrize("cls", RANDOM, ids=[c.__name__ for c in RANDOM])
def test_dtype_and_config_round_trip(cls):
    initializer = cls(seed=3)
    shape = (18, 6)  # a fan-in above SparseInit's 15 non-zeros per unit
    values = initializer(shape, dtype=torch.float64)
    assert values.dtype == torch.float64
    assert initializer(shape, dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be a floating dtype"):
        initializer(shape, dtype=torch.int32)
    rebuilt = init.deserialize(json.loads(json.dumps(init.serialize(initializer))))
    assert type(rebuilt) is cls and rebuilt.get_config() == initializer.get_config()
    torch.testing.assert_close(rebuilt(shape, dtype=torch.float64), values, rtol=0, atol=0)


def test_seeded_values_are_drawn_on_the_cpu_then_moved(monkeypatch):
    """What makes them the same on every device; unseeded draws use the target device's
    generator."""
    sampled_on = []
    sample = init.GlorotUniform._sample

    def spy(self, shape, dtype, device, generator):
        sampled_on.append(torch.device(device).type if device is not None else None)
        return sample(self, shape, dtype, device, generator)

    monkeypatch.setattr(init.GlorotUniform, "_sample", spy)
    values = init.GlorotUniform(seed=1)((4, 4), device="meta")
    assert values.device.type == "meta" and values.shape == (4, 4)
    init.GlorotUniform()((4, 4), device="meta")
    assert sampled_on == ["cpu", "meta"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_seeded_values_are_the_same_on_a_gpu():
    on_gpu = init.GlorotUniform(seed=1)((64, 32), device="cuda")
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), init.GlorotUniform(seed=1)((64, 32)), rtol=0, atol=0)


def test_argument_validation_names_the_argument():
    with pytest.raises(ValueError, match="mode must be one of"):
        init.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale must be positive"):
        init.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="seed must be"):
        init.HeNormal(seed=-1)
    with pytest.raises(ValueError, match="maxval must be >= minval"):
        init.RandomUniform(minval=1.0, maxval=0.0)
    with pytest.raises(ValueError, match="shape must be a tuple"):
        init.Zeros()((2.5, 3))
    assert init.VarianceScaling(distribution="normal").distribution == "truncated_normal"


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("zeros", init.Zeros),
        ("ones", init.Ones),
        ("constant", init.Constant),
        ("identity", init.Identity),
        ("random_normal", init.RandomNormal),
        ("random_uniform", init.RandomUniform),
        ("truncated_normal", init.TruncatedNormal),
        ("variance_scaling", init.VarianceScaling),
        ("glorot_uniform", init.GlorotUniform),
        ("GlorotNormal", init.GlorotNormal),
        ("he_uniform", init.HeUniform),
        ("he_normal", init.HeNormal),
        ("lecun_uniform", init.LecunUniform),
        ("lecun_normal", init.LecunNormal),
        ("orthogonal", init.Orthogonal),
        ("sparse", init.SparseInit),
    ],
)
def test_get_by_keras_name(name, cls):
    assert type(init.get(name)) is cls


def test_get_other_identifiers():
    assert init.get(None) is None
    he = init.HeNormal()
    assert init.get(he) is he
    assert type(init.get(init.Ones)) is init.Ones
    assert init.get({"class_name": "Constant", "config": {"value": 2.0}}).value == 2.0

    def fn(shape, dtype=torch.float32, device=None):
        return torch.full(shape, 7.0, dtype=dtype, device=device)

    assert init.get(fn) is fn
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot_unifrom'.*glorot_uniform"):
        init.get("glorot_unifrom")
    with pytest.raises(TypeError, match="initializer must be"):
        init.get(0.1)
