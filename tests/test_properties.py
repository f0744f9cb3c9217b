"""Property-based tests (hypothesis) of the recurrent layers: random cells, options, shapes (one step, one unit,
batch 1, empty batches), lengths, dtypes and memory layouts, checked against invariants that hold whatever the
engine does inside:

* float32 agrees with float64 (the same weights; 2e-5 on outputs of size ≤ 1 after a few steps);
* a batch equals its rows run one by one, and a NaN in one row leaves the other rows exact;
* lengths equal truncating each sequence; go_backwards equals running the reversed valid part;
* a stateful run of two halves equals one run of the whole; step() by step() equals a whole call;
* any memory layout of the same values gives the same outputs;
* backward agrees with central finite differences in float64 along a random direction (rtol 1e-5);
* garbage (wrong types, ranks, sizes, NaN/inf, huge values) gives a TypeError/ValueError or a defined result.

Examples per test: 200 (the "ci" profile in tests/conftest.py, derandomized);
RNNFAST_HYPOTHESIS_EXAMPLES overrides it.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CELLS, make_layer

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

cells = st.sampled_from(CELLS)
dtypes = st.sampled_from(["float64", "float32"])


@st.composite
def problems(draw, min_batch=0, max_batch=4, max_time=6):
    """A layer (float64, random weights), an input batch and per-sequence lengths."""
    cell = draw(cells)
    units = draw(st.integers(1, 5))
    features = draw(st.integers(1, 4))
    batch = draw(st.integers(min_batch, max_batch))
    time = draw(st.integers(1, max_time))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, features))
    lengths = rng.integers(0, time + 1, size=batch) if draw(st.booleans()) else None
    options = {"return_sequences": True, "return_state": True, "go_backwards": draw(st.booleans())}
    return cell, units, features, x, lengths, seed, options


def states_of(cell, units, batch, rng, scale=0.5):
    return [rng.normal(size=(batch, units)) * scale for _ in range(2 if cell[3] == "lstm" else 1)]


def run(layer, x, lengths=None, state=None):
    out = layer(x, lengths=lengths, initial_state=state)
    return [np.asarray(o) for o in out]


@given(problems(), st.data())
def test_float32_agrees_with_float64(problem, data):
    cell, units, features, x, lengths, seed, options = problem
    l64 = make_layer(cell, units, features, seed=seed, dtype="float64", **options)
    l32 = make_layer(cell, units, features, seed=seed, dtype="float32", **options)
    l32.set_weights(l64.get_weights())
    for a, b in zip(run(l64, x, lengths), run(l32, x, lengths)):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5 * max(1.0, float(np.abs(a).max(initial=0))))


@given(problems(min_batch=1))
def test_a_batch_equals_its_rows_one_by_one(problem):
    cell, units, features, x, lengths, seed, options = problem
    layer = make_layer(cell, units, features, seed=seed, **options)
    whole = run(layer, x, lengths)
    for b in range(x.shape[0]):
        row = run(layer, x[b : b + 1], None if lengths is None else lengths[b : b + 1])
        for w, r in zip(whole, row):
            np.testing.assert_allclose(r[0], w[b], rtol=1e-12, atol=1e-12)


@given(problems(min_batch=2))
def test_nan_in_one_row_leaves_the_others_exact(problem):
    cell, units, features, x, lengths, seed, options = problem
    layer = make_layer(cell, units, features, seed=seed, **options)
    clean = run(layer, x, lengths)
    poisoned = x.copy()
    poisoned[0, 0, 0] = np.nan
    dirty = run(layer, poisoned, lengths)
    for c, d in zip(clean, dirty):
        np.testing.assert_allclose(d[1:], c[1:], rtol=1e-12, atol=1e-12)
        if lengths is None or lengths[0] > 0:  # a NaN the row reads propagates, like NumPy
            assert np.isnan(d[0]).any()


@given(problems(min_batch=1))
def test_lengths_equal_truncation(problem):
    cell, units, features, x, lengths, seed, options = problem
    assume(lengths is not None)
    layer = make_layer(cell, units, features, seed=seed, **options)
    out, *states = run(layer, x, lengths)
    for b, n in enumerate(lengths):
        if n == 0:
            assert not out[b].any()
            continue
        cut_out, *cut_states = run(layer, x[b : b + 1, :n])
        np.testing.assert_allclose(out[b, :n], cut_out[0], rtol=1e-12, atol=1e-12)
        assert not out[b, n:].any()  # zeros past the length
        for s, c in zip(states, cut_states):
            np.testing.assert_allclose(s[b], c[0], rtol=1e-12, atol=1e-12)


@given(problems(min_batch=1))
def test_go_backwards_equals_the_reversed_valid_part(problem):
    cell, units, features, x, lengths, seed, options = problem
    backwards = make_layer(cell, units, features, seed=seed, **{**options, "go_backwards": True})
    forwards = make_layer(cell, units, features, seed=seed, **{**options, "go_backwards": False})
    out, *states = run(backwards, x, lengths)
    for b in range(x.shape[0]):
        n = x.shape[1] if lengths is None else int(lengths[b])
        if n == 0:
            continue
        ref_out, *ref_states = run(forwards, x[b : b + 1, :n][:, ::-1])
        np.testing.assert_allclose(out[b, :n], ref_out[0], rtol=1e-12, atol=1e-12)  # in processing order
        for s, r in zip(states, ref_states):
            np.testing.assert_allclose(s[b], r[0], rtol=1e-12, atol=1e-12)


@given(problems(min_batch=1, max_time=8), st.integers(1, 7))
def test_stateful_halves_equal_the_whole(problem, cut):
    cell, units, features, x, _, seed, options = problem
    assume(cut < x.shape[1])
    options = {**options, "go_backwards": False}
    whole = run(make_layer(cell, units, features, seed=seed, **options), x)
    halves = make_layer(cell, units, features, seed=seed, stateful=True, **options)
    first, second = run(halves, x[:, :cut]), run(halves, x[:, cut:])
    np.testing.assert_allclose(np.concatenate([first[0], second[0]], axis=1), whole[0], rtol=1e-12, atol=1e-12)
    for s, w in zip(second[1:], whole[1:]):
        np.testing.assert_allclose(s, w, rtol=1e-12, atol=1e-12)


@given(problems(min_batch=1), dtypes)
def test_steps_equal_a_whole_call(problem, dtype):
    cell, units, features, x, _, seed, _options = problem
    layer = make_layer(cell, units, features, seed=seed, dtype=dtype, return_sequences=True)
    whole = np.asarray(layer(x))
    steps = np.stack([layer.step(x[:, t]) for t in range(x.shape[1])], axis=1)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(steps, whole, rtol=tol, atol=tol)


@given(problems(min_batch=1), st.sampled_from(["fortran", "strided", "time_major", "int", "list"]))
def test_memory_layouts_give_the_same_outputs(problem, layout):
    cell, units, features, x, lengths, seed, options = problem
    layer = make_layer(cell, units, features, seed=seed, **options)
    want = run(layer, x, lengths)
    if layout == "fortran":
        got = run(layer, np.asfortranarray(x), lengths)
    elif layout == "strided":
        wide = np.zeros((x.shape[0], x.shape[1], 2 * x.shape[2]))
        wide[:, :, ::2] = x
        got = run(layer, wide[:, :, ::2], lengths)
    elif layout == "time_major":
        tm = make_layer(cell, units, features, seed=seed, time_major=True, **options)
        got = run(tm, np.ascontiguousarray(x.transpose(1, 0, 2)), lengths)
        got[0] = got[0].transpose(1, 0, 2)
    elif layout == "int":
        xi = np.rint(x * 3).astype(np.int64)
        want, got = run(layer, xi.astype(np.float64), lengths), run(layer, xi, lengths)
    else:
        got = run(layer, x.tolist(), lengths)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(problems(min_batch=1, max_batch=2, max_time=4), st.booleans(), st.booleans())
def test_backward_agrees_with_finite_differences(problem, stateful_like_state, dropout):
    """A directional derivative: the gradient's dot product with a random direction in (x, state, weights)
    against (L(θ + εv) − L(θ − εv)) / 2ε."""
    cell, units, features, x, lengths, seed, options = problem
    rng = np.random.default_rng(seed + 1)
    extra = {"dropout": 0.3, "recurrent_dropout": 0.3} if dropout else {}
    layer = make_layer(cell, units, features, seed=seed, **options, **extra)
    state = states_of(cell, units, x.shape[0], rng) if stateful_like_state else None
    weights = layer.get_weights()
    seeds = None

    def loss(x_, state_, w_):
        # Dropout masks depend on the sequence of training calls: every evaluation is the first call of a fresh
        # layer with the same seed, so all of them use the same masks.
        fresh = make_layer(cell, units, features, seed=seed, **options, **extra)
        fresh.set_weights(w_)
        outs = fresh(x_, initial_state=state_, lengths=lengths, training=True)
        return sum(float(np.sum(s * o)) for s, o in zip(seeds, outs)), fresh

    outs = layer(x, initial_state=state, lengths=lengths, training=True)
    seeds = [rng.normal(size=np.shape(o)) for o in outs]
    _, trained = loss(x, state, weights)
    grads = trained.backward(seeds)
    vx = rng.normal(size=x.shape)
    vs = [rng.normal(size=s.shape) for s in state] if state else None
    vw = {k: rng.normal(size=v.shape) for k, v in weights.items()}
    analytic = float(np.sum(grads["x"] * vx)) + sum(float(np.sum(grads[k] * vw[k])) for k in vw)
    if state:
        analytic += sum(float(np.sum(g * v)) for g, v in zip(grads["initial_state"], vs))
    eps = 1e-6

    def shifted(sign):
        s_ = [s + sign * eps * v for s, v in zip(state, vs)] if state else None
        return loss(x + sign * eps * vx, s_, {k: weights[k] + sign * eps * vw[k] for k in weights})[0]

    numeric = (shifted(1) - shifted(-1)) / (2 * eps)
    # relu's kink: a direction crossing it makes the difference quotient meaningless; skip such draws
    assume(cell[0] not in ("simple_relu", "simple_relu_ln") or abs(numeric - analytic) < 1e-3 * (1 + abs(numeric)))
    assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(numeric)), (numeric, analytic)


huge = st.sampled_from([1e4, -1e4, 1e8, -1e8, 1e30, -1e30])


@given(cells, dtypes, huge, st.integers(1, 6))
def test_huge_inputs_saturate_without_nan(cell, dtype, value, time):
    layer = make_layer(cell, 3, 2, dtype=dtype, return_sequences=True, return_state=True)
    x = np.full((2, time, 2), value)
    x[1] *= -1
    out, *states = layer(x, training=True)
    assert np.isfinite(out).all() and all(np.isfinite(s).all() for s in states)
    if cell[0].startswith("simple_relu"):
        return  # relu does not saturate: its outputs are finite, its scale is the input's
    assert np.abs(out).max() <= 1.0
    grads = layer.backward([np.ones_like(out)] + [None] * len(states))
    assert all(np.isfinite(g).all() for k, g in grads.items() if k != "initial_state")


@given(st.sampled_from([c for c in CELLS if not c[0].endswith("_ln") and c[0] != "simple_relu"]),
       st.sampled_from([3e38, -3e38, np.finfo(np.float64).max]))
def test_inputs_whose_products_overflow_still_saturate_plain_cells(cell, value):
    """x·W beyond the dtype's range is ±inf; σ and tanh of it are 0, 1, ±1, so a plain cell stays finite.
    (A layer-normalised cell then computes inf − inf: NaN, as NumPy would.)"""
    layer = make_layer(cell, 3, 2, dtype="float32" if abs(value) < 1e39 else "float64", return_sequences=True)
    out = layer(np.full((1, 3, 2), value))
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


garbage = st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=3), st.binary(max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),
    st.builds(lambda s: np.zeros(s), st.lists(st.integers(0, 3), max_size=4)),
    st.builds(lambda s: np.full(s, np.nan), st.lists(st.integers(1, 3), min_size=3, max_size=3)),
    st.builds(lambda s: np.ones(s, dtype=np.complex128), st.lists(st.integers(1, 3), min_size=3, max_size=3)),
    st.builds(lambda s: np.array(["a"] * int(np.prod(s))).reshape(s), st.lists(st.integers(1, 2), min_size=3,
                                                                               max_size=3)),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@given(cells, garbage, garbage, garbage)
def test_garbage_gives_a_clear_error_or_a_defined_result(cell, x, state, lengths):
    layer = make_layer(cell, 3, 2, return_sequences=True)
    try:
        out = layer(x, initial_state=state, lengths=lengths)
    except (TypeError, ValueError) as error:
        assert str(error)  # a message naming what was wrong
        return
    assert isinstance(out, np.ndarray) and out.ndim == 3 and out.shape[2] == 3


@given(cells, garbage)
def test_garbage_to_step_and_backward(cell, value):
    layer = make_layer(cell, 3, 2, return_sequences=True)
    for call in (lambda: layer.step(value), lambda: layer.backward(value), lambda: layer.set_weights(value)):
        try:
            call()
        except (TypeError, ValueError) as error:
            assert str(error)


@given(cells, st.sampled_from([np.nan, np.inf, -np.inf]), st.sampled_from(["x", "state", "d_out", "step"]))
def test_check_finite_refuses_nan_and_inf_where_they_enter(cell, bad, where):
    layer = make_layer(cell, 3, 2, return_sequences=True, check_finite=True)
    x = np.zeros((2, 3, 2))
    state = states_of(cell, 3, 2, np.random.default_rng(0))
    name = {"x": "x", "state": "initial_state", "d_out": "d_out", "step": "x_t"}[where]
    with pytest.raises(ValueError, match=rf"{name}.*NaN or infinity"):
        if where == "x":
            x[1, 2, 0] = bad
            layer(x)
        elif where == "state":
            state[0][1, 0] = bad
            layer(x, initial_state=state)
        elif where == "d_out":
            out = layer(x, training=True)
            d = np.ones_like(out)
            d[0, 0, 0] = bad
            layer.backward(d)
        else:
            layer.step(np.array([[0.0, bad]]))
