#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_h2_response (tests/fuzz/corpus/h2_response/): what a server
may answer the native HTTP/2 client, frame by frame, well-formed and not. Byte 0 of each seed
is the target's control byte (requests - 1, and how the bytes are cut into reads); the rest
is the server's plaintext. Run it from anywhere; it rewrites the directory's files."""
import os
import struct

DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW, CONT = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def lit(name, value):  # literal header field without indexing, new name, no Huffman
    return bytes([0, len(name)]) + name + bytes([len(value)]) + value


def status(code):  # :status as a literal with indexed name (static index 8)
    return bytes([0x08, len(code)]) + code


settings = frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)) + frame(SETTINGS, ACK, 0)


def answer(stream, code=b"200", body=b"{}", extra=b""):
    return (frame(HEADERS, END_HEADERS, stream, status(code) + lit(b"x-message-id", b"wamid.%d" % stream) + extra)
            + frame(DATA, END_STREAM, stream, body))


seeds = {
    "answers": bytes([2]) + settings + answer(1) + answer(3) + answer(5),
    "answers_cut_7": bytes([2 | 3 << 3]) + settings + answer(1) + answer(3) + answer(5),
    "goaway_mid_batch": bytes([3]) + settings + answer(1) + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0)) + answer(1),
    "goaway_error": bytes([1]) + settings + frame(GOAWAY, 0, 0, struct.pack(">II", 0, 2) + b"bye"),
    "rst_stream": bytes([1]) + settings + frame(RST, 0, 1, struct.pack(">I", 2)) + answer(3),
    "refused_stream": bytes([1]) + settings + frame(RST, 0, 1, struct.pack(">I", 7)) + answer(3),
    "rst_after_headers": bytes([0]) + settings + frame(HEADERS, END_HEADERS, 1, status(b"200")) + frame(RST, 0, 1, struct.pack(">I", 1)),
    "retry_after": bytes([1]) + settings + answer(1, b"429", b"{}", lit(b"retry-after", b"7"))
    + answer(3, b"503", b"{}", lit(b"retry-after", b"Sun, 06 Nov 1994 08:49:37 GMT")),
    "interim_100": bytes([0]) + settings + frame(HEADERS, END_HEADERS, 1, status(b"100")) + answer(1),
    "continuation": bytes([0]) + settings + frame(HEADERS, 0, 1, status(b"200")) + frame(CONT, END_HEADERS, 1, lit(b"x-message-id", b"abc")) + frame(DATA, END_STREAM, 1, b"ok"),
    "ping_window": bytes([0 | 4 << 3]) + settings + frame(PING, 0, 0, b"12345678") + frame(WINDOW, 0, 0, struct.pack(">I", 1 << 20)) + answer(1),
    "big_body": bytes([0 | 6 << 3]) + settings + frame(HEADERS, END_HEADERS, 1, status(b"200"))
    + b"".join(frame(DATA, 0, 1, b"x" * 12000) for _ in range(4)) + frame(DATA, END_STREAM, 1, b"end"),
    "max_streams_0": bytes([7]) + frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 0)) + answer(1),
    "bad_preface": bytes([0]) + b"HTTP/1.1 200 OK\r\n\r\n",
    "content_length_lie": bytes([0]) + settings + frame(HEADERS, END_HEADERS, 1, status(b"200") + lit(b"content-length", b"10")) + frame(DATA, END_STREAM, 1, b"short"),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "h2_response")
os.makedirs(here, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
