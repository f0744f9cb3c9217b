"""Model files as an attacker makes them: every case is a file that both loaders must refuse with ValueError (C++:
rnnfast::ModelFileError), in time and memory proportional to its size. Most carry a valid version 2 checksum,
since an attacker computes it too: they test what the checksum cannot catch.

hostile_cases() gives {name: bytes}; tests/test_model_file.py runs each through load_model and StreamingModel,
and tests/fuzz/make_corpus.py writes them (with valid models) as the fuzzers' seeds. write_v2() writes any header
text with a correct checksum: the attacker's tool, and the tests' way to edit a file without its checksum failing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import struct
from typing import Any, Callable

import numpy as np

PREFIX = b'{"__metadata__":{"file_sha256":"'


def encode_v2(header_text: str | bytes, data: bytes) -> bytes:
    """The file for a header (its first member the metadata, file_sha256 first in it) and data: the header padded
    to 8 bytes, the checksum put at its place. A header that does not begin with PREFIX gets no checksum."""
    header = header_text if isinstance(header_text, bytes) else header_text.encode("utf-8", "surrogatepass")
    header += b" " * (-len(header) % 8)
    length = struct.pack("<Q", len(header))
    if header.startswith(PREFIX):
        start = len(PREFIX)
        zeroed = header[:start] + b"0" * 64 + header[start + 64:]
        digest = hashlib.sha256(length + zeroed + data).hexdigest().encode()
        header = header[:start] + digest + header[start + 64:]
    return length + header + data


def header_text(entries: dict[str, Any], metadata: dict[str, str]) -> str:
    return json.dumps({"__metadata__": {"file_sha256": "0" * 64, **metadata}, **entries}, separators=(",", ":"))


def layout(tensors: dict[str, np.ndarray]) -> tuple[dict[str, Any], bytes]:
    """Header entries and data for tensors, in order, as a writer lays them out."""
    entries, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        blob = np.ascontiguousarray(value).tobytes()
        code = {"float32": "F32", "float64": "F64", "int64": "I64"}[value.dtype.name]
        entries[name] = {"dtype": code, "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    return entries, b"".join(blobs)


def write_v1(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The file the version 1 writer wrote: no checksum prefix, data_sha256 of the data, `metadata` otherwise."""
    entries, data = layout(tensors)
    meta = {**{k: v for k, v in metadata.items() if k != "file_sha256"}, "format_version": "1",
            "data_sha256": hashlib.sha256(data).hexdigest()}
    header = json.dumps({"__metadata__": meta, **entries}, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def write_v2(tensors: dict[str, np.ndarray], metadata: dict[str, str],
             edit: Callable[[str], str] = lambda text: text) -> bytes:
    """A version 2 file of `tensors` and `metadata` (format, format_version, architecture, compile), its header
    text passed through `edit` before the checksum is computed."""
    entries, data = layout(tensors)
    return encode_v2(edit(header_text(entries, metadata)), data)


def _arch_edit(metadata: dict[str, str], change: Callable[[list[Any]], None]) -> dict[str, str]:
    architecture = json.loads(metadata["architecture"])
    change(architecture)
    return {**metadata, "architecture": json.dumps(architecture)}


def _text_edit(metadata: dict[str, str], key: str, old: str, new: str) -> dict[str, str]:
    """metadata[key]'s JSON text (written with json.dumps' default spacing) with `old` replaced by `new`."""
    text = json.dumps(json.loads(metadata[key]))
    assert old in text, (old, text)
    return {**metadata, key: text.replace(old, new, 1)}


def hostile_cases(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> dict[str, bytes]:
    """Hostile variants of a valid, compiled, trained model of layers [LSTM(4, input_size 3), Dense(2)] in float32
    (tests/hostile_files.base_model), given as its tensors and metadata."""
    t, m = tensors, metadata
    f32 = np.float32
    cases: dict[str, bytes] = {}

    def arch(change: Callable[[list[Any]], None]) -> dict[str, str]:
        return _arch_edit(m, change)

    def set_config(layer: int, **values: Any) -> Callable[[list[Any]], None]:
        return lambda a: a[layer]["config"].update(values)

    # 1. Sizes whose product wraps around in 64 bits: (2^62 + 1024) * 4 = 2^64 + 4096.
    huge = 2**62 + 1024
    rnn = {"class": "SimpleRNN", "config": {**json.loads(m["architecture"])[0]["config"], "units": 4,
                                            "input_size": huge, "activation": "tanh"}}
    for key in ("peephole", "unit_forget_bias"):
        rnn["config"].pop(key)
    cases["overflow_simple_rnn"] = write_v2(
        {"layers.0.kernel": np.zeros(4096, f32), "layers.0.recurrent_kernel": np.zeros((4, 4), f32),
         "layers.0.bias": np.zeros(4, f32)},
        {"format": "rnnfast", "format_version": "2", "architecture": json.dumps([rnn])},
        lambda text: text.replace('"shape":[4096]', f'"shape":[{huge},4]'))
    dense = {"class": "Dense", "config": {"units": 4, "activation": "linear", "use_bias": False,
                                          "input_size": huge, "seed": None, "dtype": "float32"}}
    cases["overflow_dense"] = write_v2(
        {"layers.0.kernel": np.zeros(4096, f32)},
        {"format": "rnnfast", "format_version": "2", "architecture": json.dumps([dense])},
        lambda text: text.replace('"shape":[4096]', f'"shape":[{huge},4]'))
    cases["dimension_overflows_int64"] = write_v2(t, m, lambda s: s.replace('"shape":[3,16]', '"shape":[3,1e30]'))
    cases["dimension_past_2_pow_64"] = write_v2(
        t, m, lambda s: s.replace('"shape":[3,16]', f'"shape":[3,{2**64 + 16}]'))
    cases["dimension_not_integer"] = write_v2(t, m, lambda s: s.replace('"shape":[3,16]', '"shape":[3,16.0]'))
    cases["dimension_2.5"] = write_v2(t, m, lambda s: s.replace('"shape":[3,16]', '"shape":[2.5,19.2]'))
    cases["shape_a_string"] = write_v2(t, m, lambda s: s.replace('"shape":[3,16]', '"shape":"48"'))
    cases["dimension_negative"] = write_v2(t, m, lambda s: s.replace('"shape":[3,16]', '"shape":[-3,-16]'))
    cases["dimension_true"] = write_v2(t, m, lambda s: s.replace('"shape":[2]', '"shape":[true,true]', 1))

    # 2. Architectures that ask for far more than the file holds (allocation before the check).
    cases["units_1e9"] = write_v2(t, arch(set_config(0, units=10**9)))
    cases["units_20000"] = write_v2(t, arch(set_config(0, units=20000, input_size=20000)))
    cases["embedding_1e9"] = write_v2(
        {"layers.0.embeddings": np.zeros((2, 2), f32)},
        {"format": "rnnfast", "format_version": "2", "architecture": json.dumps(
            [{"class": "Embedding", "config": {"input_dim": 10**9, "output_dim": 10**9, "seed": None,
                                               "dtype": "float32"}}])})

    # 3. The header, unprotected or inconsistent.
    good = write_v2(t, m)
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8:8 + n])
    names = [k for k in header if k != "__metadata__"]
    a, b = next((x, y) for x in names for y in names if x < y and header[x]["shape"] == header[y]["shape"]
                and header[x]["data_offsets"] != header[y]["data_offsets"])
    swapped = good[8:8 + n].decode()
    oa, ob = json.dumps(header[a]["data_offsets"], separators=(",", ":")), \
        json.dumps(header[b]["data_offsets"], separators=(",", ":"))
    swapped = swapped.replace(oa, "@A@").replace(ob, oa).replace("@A@", ob)
    cases["offsets_swapped_without_checksum"] = good[:8] + swapped.encode() + good[8 + n:]
    no_sum = good[8:8 + n].decode().replace('"file_sha256":"' + header["__metadata__"]["file_sha256"] + '",', "")
    cases["checksum_deleted"] = struct.pack("<Q", len(no_sum)) + no_sum.encode() + good[8 + n:]
    cases["checksum_wrong"] = good[:40] + (b"1" if good[40:41] != b"1" else b"2") + good[41:]
    cases["data_flipped"] = good[:-3] + bytes([good[-3] ^ 0x10]) + good[-2:]
    cases["header_flipped"] = good[:200] + bytes([good[200] ^ 0x01]) + good[201:]
    cases["second_metadata"] = write_v2(t, m, lambda s: s[:-1] + ',"__metadata__":{"format":"rnnfast"}}')
    cases["repeated_tensor_key"] = write_v2(
        t, m, lambda s: s[:-1] + f',"{a}":' + json.dumps(header[a], separators=(",", ":")) + "}")
    cases["compile_renamed"] = write_v2(t, m, lambda s: s.replace('"compile":', '"bompile":'))
    cases["metadata_unknown_member"] = write_v2(t, {**m, "comment": "hello"})
    cases["metadata_not_strings"] = write_v2(t, m, lambda s: s.replace('"format":"rnnfast"', '"format":7'))
    cases["version_3"] = write_v2(t, {**m, "format_version": "3"})
    cases["version_1_without_checksum"] = write_v2(t, {**m, "format_version": "1"},
                                                   lambda s: s.replace('"file_sha256":"' + "0" * 64 + '",', ""))
    cases["not_rnnfast"] = write_v2(t, {**m, "format": "pt"})
    cases["no_metadata"] = encode_v2(json.dumps(layout(t)[0], separators=(",", ":")), layout(t)[1])
    cases["header_not_object"] = encode_v2("[1,2,3]", b"")
    cases["trailing_bytes"] = good + b"\0" * 8
    cases["truncated_data"] = good[:-4]
    cases["header_runs_past_end"] = struct.pack("<Q", n + 64) + good[8:]
    cases["header_length_40MB"] = struct.pack("<Q", 40 * 2**20) + good[8:]
    cases["header_length_2_pow_64_minus_1"] = struct.pack("<Q", 2**64 - 1) + good[8:]
    cases["header_length_0"] = struct.pack("<Q", 0) + good[8:]
    cases["too_short"] = good[:5]
    (a0, a1) = header[a]["data_offsets"]
    cases["gap_between_tensors"] = write_v2(
        t, m, lambda s: s.replace(f'"data_offsets":{oa}', f'"data_offsets":[{a0 + 4},{a1 + 4}]'))
    cases["overlapping_tensors"] = write_v2(t, m, lambda s: s.replace(f'"data_offsets":{ob}', f'"data_offsets":{oa}'))
    cases["offsets_negative"] = write_v2(t, m, lambda s: s.replace(f'"data_offsets":{oa}', '"data_offsets":[-8,0]'))
    cases["offsets_reversed"] = write_v2(
        t, m, lambda s: s.replace(f'"data_offsets":{oa}', f'"data_offsets":[{a1},{a0}]'))
    cases["offsets_three"] = write_v2(t, m, lambda s: s.replace(f'"data_offsets":{oa}', f'"data_offsets":{oa[:-1]},0]'))
    cases["dtype_unknown"] = write_v2(t, m, lambda s: s.replace('"dtype":"F32"', '"dtype":"BF16"', 1))
    cases["tensor_entry_extra_member"] = write_v2(t, m, lambda s: s.replace('"dtype":"F32"', '"x":1,"dtype":"F32"', 1))

    # 4. Flags and numbers: strict types, JSON's grammar, the format's ranges.
    for key in ("go_backwards", "layer_norm", "peephole", "return_sequences", "stateful"):
        cases[f"{key}_is_1"] = write_v2(t, arch(set_config(0, **{key: 1})))
    cases["use_bias_is_1"] = write_v2(t, arch(set_config(1, use_bias=1)))
    cases["use_bias_is_string"] = write_v2(t, arch(set_config(1, use_bias="true")))
    cases["flag_missing"] = write_v2(t, arch(lambda a: a[0]["config"].pop("go_backwards")))
    cases["config_unknown_member"] = write_v2(t, arch(set_config(0, implementation=2)))
    cases["units_4.0"] = write_v2(t, _text_edit(m, "architecture", '"units": 4', '"units": 4.0'))
    cases["units_4e0"] = write_v2(t, _text_edit(m, "architecture", '"units": 4', '"units": 4e0'))
    cases["units_true"] = write_v2(t, arch(set_config(0, units=True)))
    cases["units_string"] = write_v2(t, arch(set_config(0, units="4")))
    cases["input_size_null"] = write_v2(t, arch(set_config(0, input_size=None)))
    cases["epsilon_infinity"] = write_v2(t, _text_edit(m, "architecture", '"layer_norm_epsilon": 0.001',
                                                       '"layer_norm_epsilon": Infinity'))
    cases["epsilon_1e999"] = write_v2(t, _text_edit(m, "architecture", '"layer_norm_epsilon": 0.001',
                                                    '"layer_norm_epsilon": 1e999'))
    cases["epsilon_nan"] = write_v2(t, _text_edit(m, "architecture", '"layer_norm_epsilon": 0.001',
                                                  '"layer_norm_epsilon": NaN'))
    cases["epsilon_zero"] = write_v2(t, arch(set_config(0, layer_norm_epsilon=0)))
    cases["dropout_1"] = write_v2(t, arch(set_config(0, dropout=1.0)))
    cases["dropout_negative"] = write_v2(t, arch(set_config(0, dropout=-0.5)))
    cases["time_major"] = write_v2(t, arch(set_config(0, time_major=True)))
    cases["return_state"] = write_v2(t, arch(set_config(0, return_state=True)))
    cases["seed_negative"] = write_v2(t, arch(set_config(0, seed=-1)))
    for label, text in (("plus", "+4"), ("leading_zero", "04"), ("bare_dot", "4."), ("dot_first", ".4"),
                        ("hex", "0x4"), ("minus_only", "-")):
        cases[f"number_{label}"] = write_v2(t, _text_edit(m, "architecture", '"units": 4', f'"units": {text}'))
    cases["integer_2_pow_63"] = write_v2(t, _text_edit(m, "architecture", '"units": 4', f'"units": {2**63}'))
    cases["integer_20_digits_negative"] = write_v2(
        t, _text_edit(m, "architecture", '"seed": 0', f'"seed": -{2**63 + 1}'))
    cases["dtype_hostile_string"] = write_v2(t, arch(set_config(0, dtype="f4,(2)i8")))
    cases["dtype_float16"] = write_v2(t, arch(set_config(0, dtype="float16")))
    cases["activation_unknown"] = write_v2(t, arch(set_config(1, activation="swish")))
    cases["gru_layer_norm_reset_before"] = write_v2(t, arch(lambda a: a[0].update(
        {"class": "GRU",
         "config": {k: v for k, v in a[0]["config"].items() if k not in ("peephole", "unit_forget_bias")}
         | {"reset_after": False, "layer_norm": True}})))

    cases["epsilon_1e-31"] = write_v2(t, arch(set_config(0, layer_norm_epsilon=1e-31)))
    cases["epsilon_1e31"] = write_v2(t, arch(set_config(0, layer_norm_epsilon=1e31)))
    cases["shape_9_dimensions"] = write_v2(t, m, lambda s: s.replace('"shape":[2]', '"shape":[1,1,1,1,1,1,1,1,2]'))
    # a product of many dimensions costs quadratic time unless the reader stops at the tensor's byte span
    cases["shape_100000_dimensions"] = write_v2(t, m, lambda s: s.replace('"shape":[2]', '"shape":[' + ",".join(
        ["9"] * 100_000) + "]", 1))

    # 5. Architectures that do not fit their tensors or each other.
    cases["class_unknown"] = write_v2(t, arch(lambda a: a[0].update({"class": "ConvLSTM2D"})))
    cases["class_object"] = write_v2(t, arch(lambda a: a[0].update({"class": "object"})))
    cases["architecture_empty"] = write_v2({}, {"format": "rnnfast", "format_version": "2", "architecture": "[]"})
    cases["architecture_not_json"] = write_v2(t, {**m, "architecture": "[{"})
    cases["architecture_object"] = write_v2(t, {**m, "architecture": "{}"})
    cases["layer_extra_member"] = write_v2(t, arch(lambda a: a[0].update({"name": "lstm"})))
    cases["chain_mismatch"] = write_v2(t, arch(set_config(1, input_size=5)))
    cases["embedding_not_first"] = write_v2(t, arch(lambda a: a.append(
        {"class": "Embedding", "config": {"input_dim": 3, "output_dim": 2, "seed": None, "dtype": "float32"}})))
    cases["tensor_missing"] = write_v2({k: v for k, v in t.items() if k != "layers.0.bias"}, m)
    cases["tensor_extra"] = write_v2({**t, "layers.1.extra": np.zeros(2, f32)}, m)
    cases["bias_without_use_bias"] = write_v2(t, arch(set_config(1, use_bias=False)))
    cases["tensor_wrong_shape"] = write_v2({**t, "layers.0.bias": np.zeros(15, f32)}, m)
    cases["tensor_wrong_dtype"] = write_v2({**t, "layers.0.bias": t["layers.0.bias"].astype(np.float64)}, m)
    cases["tensor_int64_weight"] = write_v2({**t, "layers.0.bias": t["layers.0.bias"].astype(np.int64)}, m)
    cases["peephole_without_tensors"] = write_v2(t, arch(set_config(0, peephole=True)))
    cases["layer_norm_without_tensors"] = write_v2(t, arch(set_config(0, layer_norm=True)))
    cases["bidirectional_one_direction"] = write_v2(
        {f"layers.0.{side}/{k[len('layers.0.'):]}": v for side in ("forward", "backward") for k, v in t.items()
         if k.startswith("layers.0.")},
        {"format": "rnnfast", "format_version": "2", "architecture": json.dumps([{"class": "Bidirectional", "config": {
            "layer": json.loads(m["architecture"])[0], "backward_layer": json.loads(m["architecture"])[0],
            "merge_mode": "concat"}}])})

    lstm = json.loads(m["architecture"])[0]
    second = copy.deepcopy(lstm)
    second["config"].update(units=2, input_size=4, seed=5)
    cases["inner_layer_not_a_sequence"] = write_v2(
        {**{k: v for k, v in t.items() if k.startswith("layers.0.")}, "layers.1.kernel": np.zeros((4, 8), f32),
         "layers.1.recurrent_kernel": np.zeros((2, 8), f32), "layers.1.bias": np.zeros(8, f32)},
        {"format": "rnnfast", "format_version": "2", "architecture": json.dumps([lstm, second])})
    cases["time_distributed_after_a_vector"] = write_v2(t, arch(lambda a: a.__setitem__(
        1, {"class": "TimeDistributed", "config": {"layer": a[1]}})))
    backward = copy.deepcopy(lstm)
    backward["config"].update(units=3, go_backwards=True)
    cases["bidirectional_unequal_units"] = write_v2(
        {**{f"layers.0.forward/{k[len('layers.0.'):]}": v for k, v in t.items() if k.startswith("layers.0.")},
         "layers.0.backward/kernel": np.zeros((3, 12), f32), "layers.0.backward/recurrent_kernel":
             np.zeros((3, 12), f32), "layers.0.backward/bias": np.zeros(12, f32)},
        {"format": "rnnfast", "format_version": "2", "architecture": json.dumps([{"class": "Bidirectional", "config": {
            "layer": lstm, "backward_layer": backward, "merge_mode": "concat"}}])})

    # 6. Compile settings and the optimiser's state.
    compile_spec = json.loads(m["compile"])

    def compiled(change: Callable[[dict[str, Any]], None]) -> dict[str, str]:
        spec = copy.deepcopy(compile_spec)
        change(spec)
        return {**m, "compile": json.dumps(spec)}

    cases["optimizer_unknown"] = write_v2(t, compiled(lambda c: c["optimizer"].update({"class": "Optimizer"})))
    cases["optimizer_dunder"] = write_v2(t, compiled(lambda c: c["optimizer"].update({"class": "__class__"})))
    cases["optimizer_extra_member"] = write_v2(t, compiled(lambda c: c["optimizer"]["config"].update({"decay": 0.1})))
    cases["learning_rate_negative"] = write_v2(t, compiled(lambda c: c["optimizer"]["config"].update(
        {"learning_rate": -1.0})))
    cases["learning_rate_string"] = write_v2(t, compiled(lambda c: c["optimizer"]["config"].update(
        {"learning_rate": "0.1"})))
    cases["clipnorm_and_global_clipnorm"] = write_v2(t, compiled(lambda c: c["optimizer"]["config"].update(
        {"clipnorm": 1.0, "global_clipnorm": 1.0})))
    cases["loss_unknown"] = write_v2(t, compiled(lambda c: c["loss"].update({"name": "hinge"})))
    cases["loss_config_extra"] = write_v2(t, compiled(lambda c: c["loss"]["config"].update({"reduction": "sum"})))
    cases["metrics_unknown"] = write_v2(t, compiled(lambda c: c.update({"metrics": ["auc"]})))
    cases["metrics_accuracy_with_mse"] = write_v2(t, compiled(lambda c: c.update({"metrics": ["accuracy"]})))
    cases["compile_not_json"] = write_v2(t, {**m, "compile": "{"})
    cases["slot_missing"] = write_v2({k: v for k, v in t.items() if k != "optimizer.0/bias/1"}, m)
    cases["slot_wrong_shape"] = write_v2({**t, "optimizer.0/bias/1": np.zeros(3, f32)}, m)
    cases["slot_of_no_weight"] = write_v2({**t, "optimizer.7/bias/0": np.zeros(3, f32)}, m)
    cases["slot_index_out_of_range"] = write_v2({**t, "optimizer.0/bias/2": np.zeros(16, f32)}, m)
    cases["iterations_missing"] = write_v2({k: v for k, v in t.items() if k != "optimizer.iterations"}, m)
    cases["iterations_negative"] = write_v2({**t, "optimizer.iterations": np.array(-1, np.int64)}, m)
    cases["iterations_float"] = write_v2({**t, "optimizer.iterations": np.array(1.0, f32)}, m)
    cases["optimizer_state_without_compile"] = write_v2(t, {k: v for k, v in m.items() if k != "compile"})

    # 7. JSON itself.
    cases["json_deep"] = write_v2(t, {**m, "architecture": "[" * 200_000 + "]" * 200_000})
    cases["json_65_levels"] = write_v2(t, {**m, "architecture": "[" * 65 + "]" * 65})
    cases["json_deep_header"] = encode_v2(PREFIX.decode() + "0" * 64 + '"},"x":' + "[" * 100 + "]" * 100 + "}", b"")
    cases["lone_surrogate"] = write_v2(t, m, lambda s: s.replace('"format":"rnnfast"', '"format":"rnnfast",'
                                                                 '"x":"\\ud800"'))
    cases["lone_low_surrogate"] = write_v2(t, m, lambda s: s.replace('"format":"rnnfast"', '"format":"rnnfast\\udc00"'))
    bad_utf8 = write_v2(t, {**m, "format": "rnnfast"}, lambda s: s.replace('"format":"rnnfast"', '"format":"rnnf@st"'))
    cases["invalid_utf8"] = bad_utf8.replace(b"rnnf@st", b"rnnf\xffst")
    cases["overlong_utf8"] = bad_utf8.replace(b"rnnf@st", b"rnnf\xc1\x81st")
    cases["utf8_surrogate"] = bad_utf8.replace(b"rnnf@st", b"rn\xed\xa0\x80st")
    cases["byte_order_mark"] = encode_v2("\ufeff" + header_text(*layout(t)[:1], m), layout(t)[1])
    cases["control_character"] = write_v2(t, m, lambda s: s.replace('"format":"rnnfast"', '"format":"rnn\tfast"'))
    cases["text_after_header"] = write_v2(t, m, lambda s: s + "{}")
    cases["nul_in_header"] = write_v2(t, m, lambda s: s + "\0")
    return cases


def base_model() -> Any:
    """The model hostile_cases() varies: LSTM(4) into Dense(2), float32, compiled with Adam, trained one step
    (so the optimiser's slots are in the file), layer_norm off with its epsilon written as 0.001."""
    import rnnfast as rf

    model = rf.Sequential([rf.LSTM(4, input_size=3, seed=0), rf.Dense(2, input_size=4, seed=1)])
    model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.01))
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.normal(size=(2, 5, 3)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32))
    return model
