"""Schemathesis hooks for scripts/conformance.

Schemathesis has no serializer for video bodies. This one sends what it
generated behind the signature of the declared format, the way its own
serializers for images send a sample file, so a schema-valid upload is a
video the server can accept (and an unsigned one, the 415 path, is still
reached through the wrong-media-type cases schemathesis makes on its own).
"""

import schemathesis

SIGNATURES = {
    # ISO base media: a box size, then "ftyp" and a brand.
    "video/mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",
    # EBML magic.
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81",
}


def _as_bytes(value):
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    data = getattr(value, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return str(value).encode("utf-8")


def _video(media_type):
    def serialize(ctx, value):
        return SIGNATURES[media_type] + _as_bytes(value)

    return serialize


for _media_type in SIGNATURES:
    schemathesis.serializer(_media_type)(_video(_media_type))
