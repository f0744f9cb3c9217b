"""float64 central finite differences against backward(), for every gradient of every cell and option.

The loss is L = Σ R_out⊙out + Σ R_h⊙h (+ Σ R_c⊙c) with fixed random R, so every output and state carries
gradient. Step 1e-6; analytic and numeric gradients agree to rtol 1e-6, atol 1e-8 (central differences in
float64 are accurate to ~1e-9 here).
"""

import numpy as np
import pytest
from conftest import make_layer

EPS = 1e-6
TOL = {"rtol": 1e-6, "atol": 1e-8}

OPTIONS = [
    {"return_sequences": True},
    {"return_sequences": False},
    {"return_sequences": True, "time_major": True},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": False, "go_backwards": True, "time_major": True},
]


def loss_and_seeds(outputs, rng_seed=11):
    rng = np.random.default_rng(rng_seed)
    seeds = [rng.normal(size=o.shape) for o in outputs]
    return sum(float(np.sum(s * o)) for s, o in zip(seeds, outputs)), seeds


def numeric_gradient(f, arr):
    grad = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + EPS
        up = f()
        flat[i] = old - EPS
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * EPS)
    return grad


def check_layer(layer, x, state, lengths):
    def loss():
        return loss_and_seeds(layer(x, initial_state=state, lengths=lengths))[0]

    outputs = layer(x, initial_state=state, lengths=lengths, training=True)
    _, seeds = loss_and_seeds(outputs)
    grads = layer.backward(seeds)

    np.testing.assert_allclose(grads["x"], numeric_gradient(loss, x), **TOL, err_msg="x")
    for k, s in enumerate(state):
        np.testing.assert_allclose(grads["initial_state"][k], numeric_gradient(loss, s), **TOL,
                                   err_msg=f"initial_state[{k}]")
    weights = layer.get_weights()
    for name, value in weights.items():
        def weight_loss():
            layer.set_weights(weights)
            return loss()
        numeric = numeric_gradient(weight_loss, value)
        layer.set_weights(weights)
        np.testing.assert_allclose(grads[name], numeric, **TOL, err_msg=name)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "last")
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
def test_gradients(cell, options, use_lengths):
    rng = np.random.default_rng(5)
    batch, time, features, units = 3, 5, 4, 3
    layer = make_layer(cell, units, features, return_state=True, **options)
    shape = (time, batch, features) if options.get("time_major") else (batch, time, features)
    x = rng.normal(size=shape)
    n_states = 2 if cell[3] == "lstm" else 1
    state = [rng.normal(size=(batch, units)) * 0.5 for _ in range(n_states)]
    lengths = np.array([5, 2, 0]) if use_lengths else None
    check_layer(layer, x, state, lengths)


def test_gradients_without_state_outputs(cell):
    """return_state=False: d_out is one array; the initial-state gradient is still returned."""
    rng = np.random.default_rng(9)
    layer = make_layer(cell, 4, 2, return_sequences=True)
    x = rng.normal(size=(2, 6, 2))
    seed = rng.normal(size=(2, 6, 4))
    layer(x, training=True)
    grads = layer.backward(seed)

    def loss():
        return float(np.sum(seed * layer(x)))

    np.testing.assert_allclose(grads["x"], numeric_gradient(loss, x), **TOL)
    zero_state = [np.zeros((2, 4)) for _ in grads["initial_state"]]

    def state_loss():
        return float(np.sum(seed * layer(x, initial_state=zero_state)))

    for k, s in enumerate(zero_state):
        np.testing.assert_allclose(grads["initial_state"][k], numeric_gradient(state_loss, s), **TOL)


def test_stateful_gradient_is_with_respect_to_carried_state(cell):
    rng = np.random.default_rng(2)
    layer = make_layer(cell, 3, 2, stateful=True, return_sequences=True)
    first, second = rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 2))
    layer(first)
    carried = layer.states
    out = layer(second, training=True)
    seed = rng.normal(size=out.shape)
    grads = layer.backward(seed)

    reference = make_layer(cell, 3, 2, return_sequences=True)
    reference.set_weights(layer.get_weights())

    def loss():
        return float(np.sum(seed * reference(second, initial_state=carried)))

    for k, s in enumerate(carried):
        np.testing.assert_allclose(grads["initial_state"][k], numeric_gradient(loss, s), **TOL)


@pytest.mark.parametrize("options", [{"return_sequences": True}, {"go_backwards": True}], ids=["seq", "backwards"])
def test_gradients_batch_one(cell, options):
    """Batch 1 takes the matrix-vector path of the product interface."""
    rng = np.random.default_rng(12)
    layer = make_layer(cell, 5, 3, return_state=True, **options)
    x = rng.normal(size=(1, 6, 3))
    state = [rng.normal(size=(1, 5)) * 0.5 for _ in range(2 if cell[3] == "lstm" else 1)]
    check_layer(layer, x, state, None)
