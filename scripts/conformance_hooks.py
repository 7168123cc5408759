"""Schemathesis hooks for scripts/conformance.

Schemathesis has no serializer for video bodies. This one sends what it
generated behind the signature of the declared format, the way its own
serializers for images send a sample file, so a schema-valid upload is a
video the server can accept (and an unsigned one, the 415 path, is still
reached through the wrong-media-type cases schemathesis makes on its own).

Nor has it a deserializer for video answers, so it could not check them
against the document. The one here reads a whole video (200) as what the
document says it is, a binary string, after checking that it is the format
its Content-Type names; a range (206) starts anywhere, so only its bytes are
read.
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


@schemathesis.deserializer(*SIGNATURES)
def _video_answer(ctx, response):
    body = response.content
    media_type = response.headers.get("content-type", [""])
    media_type = (media_type[0] if isinstance(media_type, list) else media_type).split(";")[0].strip()
    if response.status_code == 200:
        signature = SIGNATURES.get(media_type)
        if signature is None:
            raise ValueError(f"a video answer of an unexpected type: {media_type!r}")
        # mp4: the first box's size varies; its type is the "ftyp" after it.
        head = body[4:8] if media_type == "video/mp4" else body[:4]
        want = signature[4:8] if media_type == "video/mp4" else signature[:4]
        if head != want:
            raise ValueError(f"the body is not {media_type}: it starts {body[:12]!r}")
    # Binary as a string of the same bytes, which `type: string` accepts.
    return body.decode("latin-1")
