"""PDF layout of an issued document: A4, DejaVu Sans (every Vietnamese letter), the national
motto, the body blocks of a document template, and a verification block with a QR code.

Imported only when a document is rendered, because fpdf2 is slow to import and the CLI,
validator and worker start-up never need it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import qrcode
from fpdf import FPDF

from motcua.activities.documents import (
    DEFAULT_FONT_DIR,
    FONT,
    FONT_FILES,
    FONT_PACKAGE,
    MOTTO,
    UNSIGNED_NOTE,
    FontMissingError,
    display_code,
)


def font_dir() -> Path:
    return Path(os.environ.get("MOTCUA_FONT_DIR", DEFAULT_FONT_DIR))


def font_paths() -> dict[str, Path]:
    folder = font_dir()
    paths = {style: folder / name for style, name in FONT_FILES.items()}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise FontMissingError(
            f"font file(s) {', '.join(missing)} not found in {folder}: install the Debian "
            f"package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}) or set MOTCUA_FONT_DIR"
        )
    return paths


@dataclass(frozen=True)
class Page:
    dossier_code: str
    title: str
    body: str
    verification_code: str
    verification_url: str
    issued: datetime
    signed: bool


class _Pdf(FPDF):
    LINE = 6.5

    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        for style, path in font_paths().items():
            self.add_font(FONT, style, str(path))
        self.set_margins(20, 15, 20)
        self.set_auto_page_break(True, margin=18)

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(FONT, "B" if bold else "", size)

    def centred(self, text: str, size: float = 12, bold: bool = False, h: float = LINE) -> None:
        self.font(size, bold)
        self.multi_cell(0, h, text, align="C", new_x="LMARGIN", new_y="NEXT")

    def motto(self) -> None:
        self.centred(MOTTO[0], 12, bold=True)
        self.centred(MOTTO[1], 12.5, bold=True)
        self.font(12.5, bold=True)
        width = self.get_string_width(MOTTO[1])
        x = (self.w - width) / 2
        self.set_line_width(0.3)
        self.line(x, self.get_y() + 0.5, x + width, self.get_y() + 0.5)
        self.ln(4)

    def field(self, label: str, value: str) -> None:
        self.font(11.5, bold=True)
        self.write(self.LINE, f"{label}: ")
        self.font(11.5)
        self.write(self.LINE, value)
        self.ln(self.LINE + 0.5)

    def right_block(self, text: str) -> None:
        half = (self.w - self.l_margin - self.r_margin) / 2
        self.font(11.5, bold=text.isupper())
        self.set_x(self.l_margin + half)
        self.multi_cell(half, self.LINE, text, align="C", new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str) -> None:
        self.font(11.5)
        self.multi_cell(0, self.LINE, text, align="J", new_x="LMARGIN", new_y="NEXT")

    def rule(self) -> None:
        y = self.get_y() + 2
        self.line(self.l_margin, y, self.w - self.r_margin, y)
        self.ln(4)

    def body(self, text: str) -> None:
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                self.ln(3)
            elif line.startswith("## "):
                self.centred(line[3:].strip(), 12.5, bold=True)
            elif line.startswith("# "):
                self.centred(line[2:].strip(), 14, bold=True, h=8)
            elif line.startswith(">>"):
                self.right_block(line[2:].strip())
            elif line.startswith("|"):
                self.centred(line[1:].strip(), 11.5)
            elif re.fullmatch(r"-{4,}", line):
                self.rule()
            elif line.startswith("- ") and ": " in line:
                label, value = line[2:].split(": ", 1)
                self.field(label.strip(), value.strip())
            else:
                self.paragraph(line)

    def qr(self, url: str, x: float, y: float, size: float) -> None:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        code.add_data(url)
        code.make(fit=True)
        matrix = code.get_matrix()
        cell = size / len(matrix)
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):
            c = 0
            while c < len(row):
                if row[c]:
                    start = c
                    while c < len(row) and row[c]:
                        c += 1
                    # Slight overlap avoids hairline gaps between modules in viewers.
                    self.rect(
                        x + start * cell,
                        y + r * cell,
                        (c - start) * cell + 0.02,
                        cell + 0.02,
                        style="F",
                    )
                else:
                    c += 1

    def verification(self, page: Page) -> None:
        size = 26.0
        if self.get_y() + size + 8 > self.h - self.b_margin:
            self.add_page()
        self.ln(6)
        top = self.get_y()
        self.qr(page.verification_url, self.l_margin, top, size)
        text_x = self.l_margin + size + 5
        width = self.w - self.r_margin - text_x
        lines = [
            (f"Mã hồ sơ: {page.dossier_code}", True),
            (f"Mã xác thực: {display_code(page.verification_code)}", True),
            (f"Tra cứu: {page.verification_url}", False),
        ]
        if not page.signed:
            lines.append((UNSIGNED_NOTE, False))
        self.set_xy(text_x, top)
        for text, bold in lines:
            self.font(9.5, bold)
            self.set_x(text_x)
            self.multi_cell(width, 5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_y(max(self.get_y(), top + size) + 2)


def render_pdf(page: Page) -> bytes:
    """The PDF bytes of `page`; the same page always gives the same bytes."""
    pdf = _Pdf()
    pdf.set_creation_date(page.issued)
    pdf.set_producer("motcua")
    pdf.set_creator("motcua documents.issue")
    pdf.set_title(page.title)
    pdf.set_subject(f"Mã hồ sơ {page.dossier_code}")
    pdf.set_lang("vi")
    pdf.add_page()
    pdf.motto()
    pdf.font(10)
    pdf.cell(0, 5, f"Mã hồ sơ: {page.dossier_code}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.centred(page.title, 15, bold=True, h=8)
    pdf.ln(3)
    pdf.body(page.body)
    pdf.verification(page)
    return bytes(pdf.output())
