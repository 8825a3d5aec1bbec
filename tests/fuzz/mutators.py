"""Mutations of well-formed inputs: raw bytes, JSON trees, ONNX protobufs, zip archives, npz
data, the textual IR, `.snnx` sections (with a valid checksum, to reach what lies behind it)
and TOML. Each takes a `random.Random` and returns the new bytes (or text) and a short label.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import struct
import zipfile
import zlib

import numpy as np

ODD_VALUES = [None, True, False, 0, -1, 1, 2**31, -(2**31), 2**63, 10**30, 0.5, -0.0, 1e308, math.nan, math.inf,
              "", "x", "ilif", "../../etc/passwd", "é", [], [1, 2], [[]], {}, {"a": 1}, "A" * 5000]  # fmt: skip


# -- bytes ----------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    data = bytearray(data)
    choice = rng.randrange(8)
    if choice == 0 or not data:
        return rng.randbytes(rng.randrange(0, 2000)), "random bytes"
    if choice == 1:
        return bytes(data[: rng.randrange(len(data))]), "truncated"
    if choice == 2:
        return b"", "empty"
    if choice == 3:
        for _ in range(rng.randrange(1, 4)):
            position = rng.randrange(len(data))
            data[position] ^= 1 << rng.randrange(8)
        return bytes(data), "bit flips"
    if choice == 4:
        start = rng.randrange(len(data))
        size = rng.randrange(1, 64)
        data[start : start + size] = bytes(min(size, len(data) - start))
        return bytes(data), "zeroed run"
    if choice == 5:
        start = rng.randrange(len(data))
        return bytes(data[:start] + rng.randbytes(rng.randrange(1, 32)) + data[start:]), "inserted bytes"
    if choice == 6:
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randrange(1, 256))
        return bytes(data[:start] + data[end:]), "deleted run"
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randrange(1, 128)]
    return bytes(data[:start] + chunk * rng.randrange(2, 6) + data[start:]), "duplicated run"


DEEP = "\u0000deeply nested\u0000"


# -- JSON -----------------------------------------------------------------------------------------
def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:50]):
            yield from _paths(item, (*prefix, index))


def _odd_value(rng: random.Random, old):
    if isinstance(old, (int, float)) and not isinstance(old, bool) and rng.random() < 0.4:
        return rng.choice([old * -1, old + 1, old - 1, old * 1000, old * 10**9, 0, -1])
    if rng.random() < 0.05:
        return DEEP if rng.random() < 0.5 else list(range(100000))
    return copy.deepcopy(rng.choice(ODD_VALUES))


def mutate_json(tree, rng: random.Random) -> tuple[object, str]:
    """Replace, delete or add one value somewhere in a JSON tree."""
    tree = copy.deepcopy(tree)
    paths = list(_paths(tree))
    path = rng.choice(paths)
    if not path:
        return _odd_value(rng, tree), "root replaced"
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    roll = rng.random()
    if roll < 0.15 and isinstance(parent, dict):
        del parent[key]
        return tree, f"deleted {'/'.join(map(str, path))}"
    if roll < 0.2 and isinstance(parent, dict):
        parent[f"unknown_{rng.randrange(100)}"] = _odd_value(rng, None)
        return tree, "added a key"
    parent[key] = _odd_value(rng, parent[key])
    return tree, f"changed {'/'.join(map(str, path))}"


def dump_json(tree) -> bytes:
    """JSON text; DEEP becomes lists nested 100,000 deep (a recursion bomb for a naive reader)."""
    text = json.dumps(tree).encode("utf-8", "surrogatepass")
    return text.replace(json.dumps(DEEP).encode(), b"[" * 100000 + b"]" * 100000)


# -- zip archives (.snnc, .npz) -------------------------------------------------------------------
def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(members: dict[str, bytes], stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(name: str, size: int, others: dict[str, bytes] | None = None) -> bytes:
    """A deflated member of `size` zero bytes (a few KiB on disk per MiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for other, data in (others or {}).items():
            archive.writestr(other, data)
        with archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                member.write(block)
    return buffer.getvalue()


def lie_about_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite a stored member's declared uncompressed size in the central directory."""
    data = bytearray(data)
    encoded = member.encode()
    position = data.rfind(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if bytes(data[position + 46 : position + 46 + name_length]) == encoded:
            struct.pack_into("<I", data, position + 24, min(size, 0xFFFFFFFE))
            break
        position = data.rfind(b"PK\x01\x02", 0, position)
    return bytes(data)


# -- npz data -------------------------------------------------------------------------------------
def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def mutate_npz(x: np.ndarray, y: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """Data files with the wrong content: dtypes, shapes, values, labels, container."""
    variants = {
        "bool x": lambda: npz_bytes(x=x > 0.5, y=y),
        "complex x": lambda: npz_bytes(x=x.astype(np.complex64), y=y),
        "datetime x": lambda: npz_bytes(x=np.zeros(x.shape, "datetime64[s]"), y=y),
        "string x": lambda: npz_bytes(x=np.full(x.shape[:1], "abc"), y=y),
        "object x": lambda: npz_bytes(x=np.array([{"a": 1}] * len(x), dtype=object), y=y),
        "float16 x": lambda: npz_bytes(x=x.astype(np.float16), y=y),
        "float64 x": lambda: npz_bytes(x=x.astype(np.float64), y=y),
        "uint8 x": lambda: npz_bytes(x=(x * 255).astype(np.uint8), y=y),
        "huge x": lambda: npz_bytes(x=x * 1e38, y=y),
        "NaN x": lambda: npz_bytes(x=np.where(x > 0.9, np.nan, x), y=y),
        "Inf x": lambda: npz_bytes(x=np.where(x > 0.9, np.inf, x), y=y),
        "scalar x": lambda: npz_bytes(x=np.float32(1.0)),
        "empty x": lambda: npz_bytes(x=x[:0], y=y[:0]),
        "rank-1 x": lambda: npz_bytes(x=x.ravel(), y=y),
        "transposed x": lambda: npz_bytes(x=np.swapaxes(x, 1, 3), y=y),
        "extra dim x": lambda: npz_bytes(x=x[None], y=y),
        "one sample no batch": lambda: npz_bytes(x=x[0], y=y[:1]),
        "short y": lambda: npz_bytes(x=x, y=y[:-1]),
        "long y": lambda: npz_bytes(x=x, y=np.concatenate([y, y])),
        "float y": lambda: npz_bytes(x=x, y=y + 0.5),
        "negative y": lambda: npz_bytes(x=x, y=-y - 1),
        "large y": lambda: npz_bytes(x=x, y=y + 10**6),
        "2-D y": lambda: npz_bytes(x=x, y=y[:, None]),
        "string y": lambda: npz_bytes(x=x, y=y.astype(str)),
        "bool y": lambda: npz_bytes(x=x, y=y > 2),
        "object y": lambda: npz_bytes(x=x, y=np.array([None] * len(y), dtype=object)),
        "no x": lambda: npz_bytes(z=x, w=y),
        "only y": lambda: npz_bytes(y=y),
        "bare npy": lambda: npy_bytes(x),
        "npy with huge shape": lambda: _npy_with_shape(x, (10**12,) + x.shape[1:]),
        "npz with huge npy": lambda: write_zip({"x.npy": _npy_with_shape(x, (10**9, 3, 8, 8)), "y.npy": npy_bytes(y)}),
        "npz member bomb": lambda: zip_bomb("x.npy", 96 << 20, {"y.npy": npy_bytes(y)}),
        "npz declared bomb": lambda: lie_about_size(
            write_zip({"x.npy": npy_bytes(x)}, stored=True), "x.npy", 2**32 - 2
        ),
        "x is a folder": lambda: write_zip({"x.npy/": b"", "y.npy": npy_bytes(y)}),
        "npz of text": lambda: write_zip({"x.npy": b"hello", "y.npy": b"world"}),
        "bytes": lambda: mutate_bytes(npz_bytes(x=x, y=y), rng)[0],
    }
    label = rng.choice(list(variants))
    return variants[label](), label


def _npy_with_shape(x: np.ndarray, shape: tuple) -> bytes:
    data = npy_bytes(x)
    header_length = struct.unpack_from("<H", data, 8)[0]
    header = data[10 : 10 + header_length].decode("latin1")
    start = header.index("'shape': ") + len("'shape': ")
    end = header.index(")", start) + 1
    header = header[:start] + repr(tuple(shape)) + header[end:]
    header = header.rstrip("\n ").ljust(header_length - 1) + "\n"
    return data[:8] + struct.pack("<H", len(header)) + header.encode("latin1") + data[10 + header_length :]


# -- ONNX ----------------------------------------------------------------------------------------
OP_TYPES = ["Loop", "If", "Scan", "Foo", "Conv", "Relu", "Gemm", "MaxPool", "Reshape", "Constant", "Softmax",
            "Sigmoid", "Resize", "Einsum", "Split", "Slice", "Gather", "RandomNormal"]  # fmt: skip


def mutate_onnx(data: bytes, rng: random.Random, folder) -> tuple[bytes, str]:
    """A structure-aware change to an ONNX model (may also write external data into `folder`)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.ModelProto()
    model.ParseFromString(data)
    graph = model.graph
    roll = rng.randrange(14)
    node = rng.choice(graph.node)
    if roll == 0 and node.attribute:
        attribute = rng.choice(node.attribute)
        if attribute.ints:
            values = [rng.choice([0, -1, 1, 2, 7, 2**31, -(2**40)]) for _ in range(rng.choice([0, 1, 2, 4, 6]))]
            del attribute.ints[:]
            attribute.ints.extend(values)
        else:
            attribute.i = rng.choice([0, -1, 1, 2, 5, 2**40])
        label = f"attribute {node.op_type}.{attribute.name}"
    elif roll == 1:
        name = rng.choice(["transB", "transA", "group", "axis", "alpha", "auto_pad", "ceil_mode", "dilations"])
        node.attribute.append(helper.make_attribute(name, rng.choice([0, 1, 3, -1, "SAME_UPPER", [2, 2], 1.5])))
        label = f"added attribute to {node.op_type}"
    elif roll == 2 and graph.initializer:
        tensor = rng.choice(graph.initializer)
        dims = list(tensor.dims)
        if dims and rng.random() < 0.6:
            dims[rng.randrange(len(dims))] = rng.choice([0, 1, 2, 3, 10**6])
        else:
            dims = dims + [1]
        del tensor.dims[:]
        tensor.dims.extend(dims)
        label = f"initializer {tensor.name} dims {dims}"
    elif roll == 3 and graph.initializer:
        tensor = rng.choice(graph.initializer)
        tensor.data_type = rng.choice([TensorProto.STRING, TensorProto.INT8, TensorProto.BOOL, TensorProto.COMPLEX64,
                                       TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT64, 0, 99])  # fmt: skip
        label = f"initializer {tensor.name} data type {tensor.data_type}"
    elif roll == 4:
        dims = graph.input[0].type.tensor_type.shape.dim
        position = rng.randrange(len(dims))
        choice = rng.choice([0, -3, 1, 100000, 2**40, "dyn"])
        if choice == "dyn":
            dims[position].dim_param = "H"
        else:
            dims[position].dim_value = choice
        label = f"input dim {position} = {choice}"
    elif roll == 5:
        version = rng.choice([0, 1, 5, 7, 26, 28, 29, 99, 10**6])
        model.opset_import[0].version = version
        label = f"opset {version}"
    elif roll == 6:
        node.op_type = rng.choice(OP_TYPES)
        label = f"op type {node.op_type}"
    elif roll == 7:
        node.domain = rng.choice(["com.microsoft", "ai.onnx.ml", "x.y", "ai.onnx.preview.training"])
        label = f"domain {node.domain}"
    elif roll == 8 and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice(["ghost", "", node.output[0], graph.output[0].name])
        label = f"rewired {node.name}"
    elif roll == 9:
        nodes = list(graph.node)
        rng.shuffle(nodes)
        if rng.random() < 0.5:
            nodes.pop()
        del graph.node[:]
        graph.node.extend(nodes)
        label = "nodes shuffled or dropped"
    elif roll == 10 and graph.initializer:
        tensor = max(graph.initializer, key=lambda t: len(t.raw_data) + len(t.float_data))
        location = rng.choice(["weights.bin", "../../../etc/passwd", "/etc/passwd", "/dev/zero", "missing.bin",
                               "fifo.bin", "link.bin", "sub/../weights.bin", "folder"])  # fmt: skip
        raw = tensor.raw_data or np.asarray(tensor.float_data, np.float32).tobytes()
        (folder / "weights.bin").write_bytes(raw)
        (folder / "folder").mkdir(exist_ok=True)
        if location == "fifo.bin":
            import os

            os.mkfifo(folder / "fifo.bin")
        if location == "link.bin":
            (folder / "link.bin").symlink_to("/dev/zero")
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        entries = {"location": location, "offset": rng.choice(["0", "0", "-5", "999999999", "x"]),
                   "length": rng.choice([str(len(raw)), str(len(raw)), "0", "99999999999", "-1"])}  # fmt: skip
        for key, value in entries.items():
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        label = f"external data {entries}"
    elif roll == 11:
        encoded = model.SerializeToString()
        name = node.name.encode() or node.output[0].encode()
        bad = bytes([0xFF, 0xFE, 0xC3]) + name[3:] if len(name) >= 3 else name
        return encoded.replace(name, bad[: len(name)], 1), "a name that is not UTF-8"
    elif roll == 12:
        graph.output[0].name = rng.choice(["ghost", graph.input[0].name, node.output[0]])
        label = "output renamed"
    else:
        return mutate_bytes(data, rng)[0], "bytes"
    try:
        return model.SerializeToString(), label
    except Exception:  # noqa: BLE001  (the protobuf library refuses what it cannot encode)
        return data, "unchanged"


# -- the textual IR -------------------------------------------------------------------------------
def mutate_ir(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    node_lines = [i for i, line in enumerate(lines) if " = " in line]
    index = rng.choice(node_lines)
    line = lines[index]
    roll = rng.randrange(9)
    if roll == 0:
        del lines[index]
        label = "deleted a node"
    elif roll == 1:
        lines.insert(index, line)
        label = "duplicated a node"
    elif roll == 2 and "{" in line:
        head, _, rest = line.partition(" {")
        attrs, _, tail = ("{" + rest).rpartition("} : ")
        try:
            tree = json.loads(attrs + "}")
        except json.JSONDecodeError:
            return text, "unchanged"
        tree, label = mutate_json(tree, rng)
        lines[index] = f"{head} {dump_json(tree).decode('utf-8', 'replace')} : {tail}"
    elif roll == 3:
        lines[index] = line.replace('"b64": "', '"b64": "' + rng.choice(["!!", "A", "=", "AAAA", "\\u0000"]), 1)
        label = "corrupted base64"
    elif roll == 4:
        dtype = rng.choice(["object", "<U3", "complex64", "float16", "int8", "bool", "V8", "datetime64[s]", "bogus"])
        lines[index] = line.replace('"dtype": "float32"', f'"dtype": "{dtype}"', 1)
        label = f"dtype {dtype}"
    elif roll == 5:
        lines[index] = line.replace('"shape": [', f'"shape": [{rng.choice([0, -1, 2**40, 7])}, ', 1)
        label = "changed an array's shape"
    elif roll == 6:
        new_type = rng.choice(["f32[N,1000000,1000000]", "f32[N]", "f32[N,-1]", "i8[N,3,8,8]", "junk"])
        lines[index] = line.rsplit(" : ", 1)[0] + " : " + new_type
        label = "changed a type"
    elif roll == 7:
        b64_start = line.find('"b64": "')
        if b64_start < 0:
            return text, "unchanged"
        lines[index] = line[: b64_start + 8] + line[b64_start + 8 :][: rng.randrange(0, 40)] + '"}' + "}" * 2
        label = "truncated weights"
    else:
        lines[index] = line.replace("%", "%" + rng.choice(["x", "ghost_", ""]), rng.randrange(1, 3))
        label = "renamed a value"
    return "\n".join(lines) + "\n", label


# -- .snnx sections ----------------------------------------------------------------------------------
def split_program(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    from snnc.targets.accel import binary

    header, payload = data[: binary.HEADER.size], data[binary.HEADER.size :]
    sections, offset = [], 0
    while offset < len(payload):
        kind, size = binary.SECTION.unpack_from(payload, offset)
        offset += binary.SECTION.size
        sections.append((kind, payload[offset : offset + size]))
        offset += size + (-size % 8)
    return header, sections


def join_program(header: bytes, sections: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    from snnc.targets.accel import binary

    payload = b"".join(binary.SECTION.pack(k, len(d)) + d + b"\0" * (-len(d) % 8) for k, d in sections)
    fields = list(binary.HEADER.unpack_from(header))
    fields[4] = len(sections) if count is None else count
    fields[5], fields[6] = len(payload), zlib.crc32(payload)
    return binary.HEADER.pack(*fields) + payload


def mutate_program(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A `.snnx` whose checksum matches: META values, parameters, weights, code words, sections."""
    header, sections = split_program(data)
    sections = list(sections)
    roll = rng.randrange(10)
    if roll < 5:
        meta_index = next(i for i, (k, _) in enumerate(sections) if k == b"META")
        tree = json.loads(sections[meta_index][1])
        label = ""
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            tree, step = mutate_json(tree, rng)
            label += f"META {step}; "
        sections[meta_index] = (b"META", dump_json(tree))
        return join_program(header, sections), label.rstrip("; ")
    kind = {5: b"PARM", 6: b"WGTS", 7: b"CODE"}.get(roll)
    if kind is not None:
        index = next(i for i, (k, _) in enumerate(sections) if k == kind)
        raw = bytearray(sections[index][1])
        width = {b"PARM": 4, b"WGTS": 1, b"CODE": 8}[kind]
        if raw and rng.random() < 0.8:
            for _ in range(rng.randrange(1, 6)):
                word = rng.randrange(len(raw) // width)
                value = rng.choice([0, 1, 2 ** (8 * width - 1) - 1, -1, rng.getrandbits(8 * width)])
                raw[word * width : (word + 1) * width] = (value % (1 << (8 * width))).to_bytes(width, "little")
            label = f"{kind.decode()} words changed"
        else:
            raw = raw[: rng.randrange(len(raw) + 1)]
            label = f"{kind.decode()} truncated"
        sections[index] = (kind, bytes(raw))
        return join_program(header, sections), label
    if roll == 8:
        rng.shuffle(sections)
        if rng.random() < 0.5:
            sections = sections[:-1]
        return join_program(header, sections), "sections reordered or dropped"
    return join_program(header, sections, rng.choice([0, 1, 5, 2**32 - 1])), "section count"


# -- TOML -----------------------------------------------------------------------------------------
TOML_VALUES = ["0", "-1", "1", "3.5", "-2.5", "nan", "inf", "-inf", "1e400", "99999999999999999999", '"eight"', "true",
               "[1, 2]", "{ a = 1 }", "[]", '""', "1979-05-27T07:32:00Z", "4096", "65", "8", "24"]  # fmt: skip


def mutate_toml(text: str, rng: random.Random) -> tuple[str, str]:
    from snnc.targets.accel.config import ChipConfig, EnergyTable

    roll = rng.randrange(6)
    if roll == 0:
        return mutate_bytes(text.encode(), rng)[0].decode("utf-8", "replace"), "bytes"
    if roll == 1:
        top = rng.choice(["chip = 5", "energy = [1, 2]", "chip = []", 'chip = "x"', "[other]\na = 1", "[chip.energy]",
                          "energy = { sram_pj_per_64b = 3 }", "[[chip]]\nlanes = 2"])  # fmt: skip
        return top + "\n", f"top level {top!r}"
    section = rng.choice(["chip", "energy"])
    names = [f for f in (ChipConfig.__dataclass_fields__ if section == "chip" else EnergyTable.__dataclass_fields__)]
    key = rng.choice(names + ["unknown_key"])
    value = rng.choice(TOML_VALUES)
    if key == "sram_pj_per_64b" and rng.random() < 0.7:
        entry = rng.choice(['"abc" = 1.0', '"-8" = 1.0', '"0" = 1.0', '"nan" = 1.0', '"inf" = 2.0', '"8" = -1.0',
                            '"8" = "x"', '"8" = nan', '"1e400" = 1.0'])  # fmt: skip
        value = "{ " + entry + " }"
    return f"[{section}]\n{key} = {value}\n", f"[{section}] {key} = {value}"
