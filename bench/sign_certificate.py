"""Time to render and sign one birth certificate, and the signed PDF's size.

    .venv/bin/python bench/sign_certificate.py [--runs 10]

Runs in a throw-away data dir. The development CA and the agency certificate are made
first (not timed); then each run renders the Vietnamese birth-certificate template to PDF
(fpdf2) and signs it PAdES B-B (pyHanko) with a new issue time, like documents.issue does
without the store and the database. Prints the median, min and max per run, the time of
signing alone, and the sizes of the unsigned and signed PDFs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone

VN = timezone(timedelta(hours=7))
DATA = {
    "child_name": "Nguyễn Thị Mai",
    "birth_date": "2026-11-02",
    "sex": "female",
    "place_of_birth": "Bệnh viện Phụ sản Hà Nội, phường Đống Đa, thành phố Hà Nội",
    "child_pid": "001326012345",
    "mother_name": "Trần Thị Hoa",
    "father_name": "Nguyễn Văn Đức",
    "agency_name": "Ủy ban nhân dân phường Ba Đình",
    "place": "Hà Nội",
    "issued_on": "2026-11-23",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    os.environ["MOTCUA_DATA_DIR"] = tempfile.mkdtemp(prefix="motcua-bench-")

    from motcua import pki
    from motcua.activities import documents, signing
    from motcua.activities.pdf import Page, render_pdf

    started = time.perf_counter()
    pki.ensure_agency("commune")
    setup = time.perf_counter() - started

    template = documents.load_template("birth_certificate")
    title = str(template.meta["title"])

    def render() -> bytes:
        context = dict(DATA, data=DATA, dossier_code="BENCH-1", title=title, sign_as="commune")
        body = documents.render_text(template, context)
        page = Page("BENCH-1", title, body, "ABCDEF123456", "http://x/v", datetime.now(VN), True)
        return render_pdf(page)

    render()  # warm-up: imports, font parsing
    total, sign_only = [], []
    unsigned = signed = b""
    base = datetime(2026, 11, 23, 9, 30, tzinfo=VN)
    for i in range(args.runs + 1):
        t0 = time.perf_counter()
        unsigned = render()
        t1 = time.perf_counter()
        signed = signing.sign(unsigned, "commune", signing_time=base + timedelta(seconds=i))
        t2 = time.perf_counter()
        if i:  # the first signature loads pyHanko's lazy parts
            total.append(t2 - t0)
            sign_only.append(t2 - t1)
    assert signing.verify(signed).bottom_line
    ms = [x * 1000 for x in total]
    print(f"CA + agency certificate (first use, not timed below): {setup * 1000:.0f} ms")
    print(
        f"render+sign, {args.runs} runs: median {statistics.median(ms):.1f} ms "
        f"(min {min(ms):.1f}, max {max(ms):.1f})"
    )
    print(f"sign only: median {statistics.median(sign_only) * 1000:.1f} ms")
    print(f"PDF size: unsigned {len(unsigned)} bytes, signed {len(signed)} bytes")


if __name__ == "__main__":
    main()
