"""Optimisers against their Keras 3 update rules written out here by hand, over several steps, with every kind of
gradient clipping. float64, rtol 1e-12; float32 rtol 1e-6."""

import numpy as np
import pytest

import rnnfast as rf
from rnnfast import optimizers as opt


def clip(grads, clipnorm=None, global_clipnorm=None, clipvalue=None):
    if clipnorm:
        return {k: g * clipnorm / max(np.linalg.norm(g), clipnorm) for k, g in grads.items()}
    if global_clipnorm:
        total = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
        return {k: g * global_clipnorm / max(total, global_clipnorm) for k, g in grads.items()}
    if clipvalue:
        return {k: np.clip(g, -clipvalue, clipvalue) for k, g in grads.items()}
    return grads


def by_hand(kind, params, grad_steps, lr, clipping, **h):
    p = {k: v.copy() for k, v in params.items()}
    s = {k: [np.zeros_like(v) for _ in range(3)] for k, v in p.items()}
    for t, grads in enumerate(grad_steps, start=1):
        for k, g in clip(grads, **clipping).items():
            m, v, a = s[k]
            if kind == "sgd":
                mu = h.get("momentum", 0.0)
                if mu:
                    m[:] = mu * m - lr * g
                    p[k] += mu * m - lr * g if h.get("nesterov") else m
                else:
                    p[k] -= lr * g
            elif kind == "rmsprop":
                rho, mu, eps = h.get("rho", 0.9), h.get("momentum", 0.0), h.get("epsilon", 1e-7)
                v[:] = rho * v + (1 - rho) * g * g
                denominator = v + eps
                if h.get("centered"):
                    a[:] = rho * a + (1 - rho) * g
                    denominator = v - a * a + eps
                increment = lr * g / np.sqrt(denominator)
                if mu:
                    m[:] = mu * m + increment
                    p[k] -= m
                else:
                    p[k] -= increment
            else:
                b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
                m[:] = m + (1 - b1) * (g - m)
                v[:] = v + (1 - b2) * (g * g - v)
                if h.get("amsgrad"):
                    a[:] = np.maximum(a, v)
                    v_used = a
                else:
                    v_used = v
                p[k] -= lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v_used) + eps)
    return p


CASES = [
    ("sgd", opt.SGD, {}),
    ("sgd", opt.SGD, {"momentum": 0.9}),
    ("sgd", opt.SGD, {"momentum": 0.8, "nesterov": True}),
    ("rmsprop", opt.RMSprop, {}),
    ("rmsprop", opt.RMSprop, {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("adam", opt.Adam, {}),
    ("adam", opt.Adam, {"amsgrad": True, "beta_1": 0.8, "epsilon": 1e-4}),
]
CLIPPING = [{}, {"clipnorm": 0.5}, {"global_clipnorm": 0.7}, {"clipvalue": 0.3}]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{'-'.join(c[2]) or 'default'}")
@pytest.mark.parametrize("clipping", CLIPPING, ids=lambda c: "-".join(c) or "noclip")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_updates_follow_the_keras_rules(case, clipping, dtype):
    kind, cls, hyper = case
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 4)).astype(dtype), "b": rng.normal(size=5).astype(dtype)}
    steps = [{k: rng.normal(size=v.shape).astype(dtype) for k, v in params.items()} for _ in range(4)]
    want = by_hand(kind, {k: v.astype(np.float64) for k, v in params.items()},
                   [{k: g.astype(np.float64) for k, g in s.items()} for s in steps], 0.05, clipping, **hyper)
    optimizer = cls(learning_rate=0.05, **hyper, **clipping)
    for grads in steps:
        optimizer.apply(params, grads)
    assert optimizer.iterations == 4
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for k in params:
        assert params[k].dtype == dtype
        np.testing.assert_allclose(params[k], want[k], rtol=rtol, atol=rtol)


def test_state_round_trips_and_names_and_errors():
    first, second = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -0.5])
    a, b = opt.Adam(0.1), opt.Adam(0.1)
    pa = {"w": np.ones(3)}
    a.apply(pa, {"w": first})
    pb = {"w": pa["w"].copy()}
    b.set_state(a.get_state())  # b continues from a's slots and step count
    assert b.iterations == 1
    a.apply(pa, {"w": second})
    b.apply(pb, {"w": second})
    np.testing.assert_array_equal(pa["w"], pb["w"])
    assert isinstance(opt.get("rmsprop"), opt.RMSprop) and isinstance(opt.get("Adam"), opt.Adam)
    with pytest.raises(ValueError, match="optimizer"):
        opt.get("adagrad")
    with pytest.raises(ValueError, match="clipnorm and global_clipnorm"):
        opt.SGD(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="momentum"):
        opt.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="grads has no entry"):
        opt.SGD().apply({"w": np.ones(2)}, {})
    with pytest.raises(ValueError, match="shape"):
        opt.SGD().apply({"w": np.ones(2)}, {"w": np.ones(3)})
    with pytest.raises(TypeError, match="C-contiguous"):
        opt.SGD().apply({"w": np.ones((4, 4))[:, 0]}, {"w": np.ones(4)})
    assert rf.optimizers.SGD is opt.SGD
