#!/usr/bin/env python3
"""Writes fixture.safetensors, an interop fixture for the Go reader.

Neither the safetensors Python package nor PyTorch is installable on the
machines this project runs on (no python3-safetensors in Debian bookworm),
so this is an independent writer of the format written from its
specification (https://github.com/huggingface/safetensors, "Format"),
using only the Python standard library, and laying the file out the way the
reference implementation does:

  * 8-byte little-endian unsigned header length N;
  * N bytes of compact JSON, padded with spaces so 8 + N is a multiple of 8;
  * tensors ordered by dtype alignment (largest first), then by name, their
    data contiguous in that order from offset 0;
  * "__metadata__" first, with {"format": "pt"} as torch's save_file writes.

Float16 values are encoded by struct's 'e' format (IEEE 754 binary16),
bfloat16 by truncating float32 bits, so the Go converters are checked
against a second implementation. Run: python3 make_fixture.py (in testdata).
"""
import json
import struct

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2,
         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}


def bf16(x):
    return struct.pack("<H", struct.unpack("<I", struct.pack("<f", x))[0] >> 16)


tensors = {
    "fc.weight": ("F32", [2, 3], b"".join(struct.pack("<f", v) for v in
                  [1.5, -2.0, 0.25, 3.4028234663852886e38, -0.0, 1.401298464324817e-45])),
    "fc.bias": ("F64", [2], struct.pack("<2d", 0.1, -1e300)),
    "half": ("F16", [4], struct.pack("<4e", 1.0, -2.0, 5.960464477539063e-08, float("inf"))),
    "brain": ("BF16", [2], bf16(1.0) + bf16(-3.5)),
    "steps": ("I64", [], struct.pack("<q", 12345678901)),
    "levels": ("I8", [2, 2], struct.pack("<4b", -4, -1, 0, 3)),
    "idx": ("I32", [3], struct.pack("<3i", -7, 0, 2147483647)),
    "mask": ("BOOL", [3], bytes([1, 0, 1])),
    "empty": ("F32", [0], b""),
    "pix": ("U8", [5], bytes([0, 1, 127, 128, 255])),
}

order = sorted(tensors, key=lambda n: (-SIZES[tensors[n][0]], n))
header = {"__metadata__": {"format": "pt", "made_by": "testdata/make_fixture.py"}}
data = b""
for name in order:
    dtype, shape, raw = tensors[name]
    header[name] = {"dtype": dtype, "shape": shape,
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
with open("fixture.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
