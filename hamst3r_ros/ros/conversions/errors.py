"""The one exception every conversion raises for input it cannot convert."""
from __future__ import annotations

#: Reasons a conversion rejects a message; the same keys the node counts in /diagnostics
#: (hamst3r_ros.ros.diagnostics.BAD_INPUT_REASONS).
REASONS: tuple[str, ...] = (
    "encoding",      # unknown or unsupported encoding / compressed format / field type
    "size",          # width, height, step and data length (or point layout) disagree
    "empty",         # no pixels, no points or no data
    "truncated",     # fewer bytes than the header promises
    "nan",           # non-finite values where finite ones are required
    "decode",        # compressed data that does not decode
    "camera_info",   # camera_info unusable (zero focal length, size mismatch)
    "dimensions",    # an image outside sane bounds (side, aspect ratio, max_image_pixels)
)


class ConversionError(ValueError):
    """A message that cannot be converted.

    Attributes:
        reason: one of :data:`REASONS` (a stable key for counting).
        detail: a human-readable explanation naming the field and what was expected.
    """

    def __init__(self, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f"ConversionError reason {reason!r} is not one of {REASONS}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
