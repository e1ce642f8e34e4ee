"""OCR settings, read from ``AEGIS_OCR_*`` environment variables.

Kept apart from :mod:`aegis.config` for now so the OCR code can be built and
tested while ``Settings`` is being rewritten; it is a frozen dataclass with the
same ``from_env`` shape, so folding it into ``Settings`` later is a move, not a
rewrite. Bad values fail loudly at start-up rather than on the first scan.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

Mode = Literal["auto", "off", "always"]

# Pillow's own default bomb threshold (~179 MP, a 13,400 px square). An image over it is
# refused before decoding: decoding alone would need hundreds of megabytes.
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970
# An A4 page at 300 DPI is 8.7 MP and A3 17.4 MP; 40 MP leaves room for A2 posters
# while keeping one grayscale page (one byte a pixel) at 40 MB in a worker.
DEFAULT_MAX_PIXELS = 40_000_000
LANGUAGES_PATTERN = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")


class OcrSettingsError(ValueError):
    """An ``AEGIS_OCR_*`` variable holds a value we cannot use."""


@dataclass(frozen=True)
class OcrSettings:
    """Everything the pure OCR code needs; one instance per worker process."""

    batch_pages: int = 4
    dpi: int = 300
    languages: str = "eng"
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    page_timeout: float = 60.0
    min_text_chars: int = 20
    mode: Mode = "auto"

    def __post_init__(self) -> None:
        if self.batch_pages < 1:
            raise OcrSettingsError("AEGIS_OCR_BATCH_PAGES must be at least 1.")
        if not 36 <= self.dpi <= 1200:
            raise OcrSettingsError("AEGIS_OCR_DPI must be between 36 and 1200.")
        if not LANGUAGES_PATTERN.match(self.languages):
            raise OcrSettingsError("AEGIS_OCR_LANGUAGES must be Tesseract language codes joined by '+', e.g. eng+deu.")
        if self.max_pixels < 100_000:
            raise OcrSettingsError("AEGIS_OCR_MAX_PIXELS must be at least 100000.")
        if self.max_image_pixels < self.max_pixels:
            raise OcrSettingsError("AEGIS_OCR_MAX_IMAGE_PIXELS must not be below AEGIS_OCR_MAX_PIXELS.")
        if self.page_timeout <= 0:
            raise OcrSettingsError("AEGIS_OCR_PAGE_TIMEOUT must be a positive number of seconds.")
        if self.min_text_chars < 0:
            raise OcrSettingsError("AEGIS_OCR_MIN_TEXT_CHARS must not be negative.")
        if self.mode not in ("auto", "off", "always"):
            raise OcrSettingsError("AEGIS_OCR must be auto, off or always.")

    @property
    def language_list(self) -> list[str]:
        """The languages as a list, the form metadata records them in."""
        return self.languages.split("+")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OcrSettings:
        """Read the ``AEGIS_OCR_*`` variables; unset or empty ones keep their defaults."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def integer(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                return int(raw.replace("_", ""))
            except ValueError as exc:
                raise OcrSettingsError(f"{name} must be an integer, not {raw!r}.") from exc

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError as exc:
                raise OcrSettingsError(f"{name} must be a number of seconds, not {raw!r}.") from exc

        mode = (get("AEGIS_OCR") or "auto").lower()
        if mode not in ("auto", "off", "always"):
            raise OcrSettingsError(f"AEGIS_OCR must be auto, off or always, not {mode!r}.")
        return cls(
            batch_pages=integer("AEGIS_OCR_BATCH_PAGES", cls.batch_pages),
            dpi=integer("AEGIS_OCR_DPI", cls.dpi),
            languages=get("AEGIS_OCR_LANGUAGES") or cls.languages,
            max_pixels=integer("AEGIS_OCR_MAX_PIXELS", cls.max_pixels),
            max_image_pixels=integer("AEGIS_OCR_MAX_IMAGE_PIXELS", cls.max_image_pixels),
            page_timeout=number("AEGIS_OCR_PAGE_TIMEOUT", cls.page_timeout),
            min_text_chars=integer("AEGIS_OCR_MIN_TEXT_CHARS", cls.min_text_chars),
            mode=cast(Mode, mode),
        )
