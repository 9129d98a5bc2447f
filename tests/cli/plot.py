#!/usr/bin/env python3
"""Checks the figures nnsim plot writes, with the standard library alone.

  plot.py png FILE W H          PNG signature, IHDR W x H, IDAT inflates to
                                H*(1+W*4) bytes (H*(1+W*3): cairo writes an
                                opaque image as RGB), many colours, the
                                first run's colour drawn
  plot.py svg FILE PANELS EVENTS LABEL...
                                parses; per run a curve per panel and a
                                legend swatch; a dashed marker per event and
                                panel; beside each swatch a text of as many
                                glyphs as its LABEL
  plot.py pdf FILE PAGES        %PDF header, PAGES page objects

Prints why on stderr and exits 1 when a check fails.
"""
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png(path, w, h):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert ihdr is not None, "no IHDR"
    assert ihdr[:2] == (w, h), f"IHDR {ihdr[:2]}, expected {(w, h)}"
    bpp = {(8, 6): 4, (8, 2): 3}.get(ihdr[2:4])
    assert bpp, f"depth/colour type {ihdr[2:4]}, expected 8-bit RGBA or RGB"
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + w * bpp), f"IDAT {len(raw)} bytes"
    # Undo the row filters to count the pixels' colours.
    stride, prev, colours = w * bpp, bytearray(w * bpp), set()
    for y in range(h):
        f = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                row[i] = (row[i] + paeth(a, b, c)) & 255
        colours.update(bytes(row[i:i + 3]) for i in range(0, stride, bpp))
        prev = row
    assert len(colours) > 50, f"{len(colours)} colours: blank?"
    assert bytes((31, 119, 180)) in colours, "no curve of the first run"


def style(el):
    return dict(kv.split(":", 1) for kv in el.get("style", "").split(";")
                if ":" in kv)


def svg(path, panels, events, labels):
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    curves, swatches, dashed = {}, {}, 0
    for p in root.iter(ns + "path"):
        st = style(p)
        stroke = st.get("stroke", "none")
        if stroke == "none":
            continue
        if "stroke-dasharray" in st:
            dashed += 1
        elif st.get("stroke-width") == "1.6":
            curves[stroke] = curves.get(stroke, 0) + 1
        elif st.get("stroke-width") == "2.5":
            y = float(p.get("d").split()[2])
            swatches[stroke] = y
    assert len(curves) == len(labels), f"{len(curves)} curve colours, expected {len(labels)}"
    assert all(n == panels for n in curves.values()), f"curves per colour {curves}"
    assert set(swatches) == set(curves), f"swatches {swatches} vs curves {curves}"
    assert dashed == events * panels, f"{dashed} dashed markers, expected {events * panels}"
    # The legend's texts: glyph runs that start on a swatch's row.
    rows = {round(y + 4, 1) for y in swatches.values()}
    texts = []
    for g in root.iter(ns + "g"):
        uses = [u for u in g if u.tag == ns + "use"]
        if uses and round(float(uses[0].get("y")), 1) in rows:
            texts.append(len(uses))
    assert texts == [len(l) for l in labels], f"legend glyphs {texts}, labels {labels}"


def pdf(path, pages):
    data = open(path, "rb").read()
    assert data.startswith(b"%PDF-"), "no %PDF header"
    n = len(re.findall(rb"/Type\s*/Page\b(?!s)", data))
    assert n == pages, f"{n} pages, expected {pages}"
    assert data.rstrip().endswith(b"%%EOF"), "no %%EOF"


def main():
    kind, path = sys.argv[1], sys.argv[2]
    try:
        if kind == "png":
            png(path, int(sys.argv[3]), int(sys.argv[4]))
        elif kind == "svg":
            svg(path, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
        else:
            pdf(path, int(sys.argv[3]))
    except (AssertionError, OSError, ET.ParseError, zlib.error) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
