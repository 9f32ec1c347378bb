"""Draw the starter courses' lesson pictures (training/starter_images/*.png).

Run once by hand (needs Pillow, a dev dependency, and the WenQuanYi font of Debian's
fonts-wqy-microhei); the PNGs are committed and seeded as lesson images by
training.starter. Every name, phone and address drawn is made up."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "training" / "starter_images"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
GREEN, RED, INK, PAPER, GREY = "#1a7f37", "#cf222e", "#1f2328", "#ffffff", "#d0d7de"


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT, size)


def mark(draw: ImageDraw.ImageDraw, x: int, y: int, ok: bool) -> None:
    colour = GREEN if ok else RED
    draw.ellipse((x, y, x + 44, y + 44), fill=colour)
    if ok:
        draw.line((x + 11, y + 23, x + 19, y + 32, x + 34, y + 13), fill=PAPER, width=5)
    else:
        draw.line((x + 13, y + 13, x + 31, y + 31), fill=PAPER, width=5)
        draw.line((x + 31, y + 13, x + 13, y + 31), fill=PAPER, width=5)


def qr(draw: ImageDraw.ImageDraw, x: int, y: int, cell: int = 6) -> None:
    # A QR-like pattern (not a real code): finder squares and a fixed scatter.
    for fx, fy in ((0, 0), (14, 0), (0, 14)):
        draw.rectangle(
            (x + fx * cell, y + fy * cell, x + (fx + 7) * cell - 1, y + (fy + 7) * cell - 1),
            fill=INK,
        )
        draw.rectangle(
            (
                x + (fx + 1) * cell,
                y + (fy + 1) * cell,
                x + (fx + 6) * cell - 1,
                y + (fy + 6) * cell - 1,
            ),
            fill=PAPER,
        )
        draw.rectangle(
            (
                x + (fx + 2) * cell,
                y + (fy + 2) * cell,
                x + (fx + 5) * cell - 1,
                y + (fy + 5) * cell - 1,
            ),
            fill=INK,
        )
    for i in range(120):
        cx, cy = (i * 7 + i * i) % 21, (i * 11 + 3 * i * i) % 21
        if (cx < 8 and cy < 8) or (cx > 12 and cy < 8) or (cx < 8 and cy > 12):
            continue
        draw.rectangle(
            (x + cx * cell, y + cy * cell, x + (cx + 1) * cell - 1, y + (cy + 1) * cell - 1),
            fill=INK,
        )


def label(
    draw: ImageDraw.ImageDraw, x: int, y: int, lines: list[tuple[str, str]], ok: bool, title: str
) -> None:
    w, h = 360, 300
    draw.rounded_rectangle(
        (x, y, x + w, y + h), radius=10, fill=PAPER, outline=GREEN if ok else RED, width=4
    )
    mark(draw, x + 12, y + 12, ok)
    draw.text((x + 66, y + 18), title, font=font(26), fill=GREEN if ok else RED)
    qr(draw, x + w - 146, y + 70)
    ty = y + 72
    for name, value in lines:
        draw.text((x + 16, ty), name, font=font(16), fill="#57606a")
        draw.text((x + 16, ty + 19), value, font=font(20), fill=INK)
        ty += 52


def packing_label() -> None:
    image = Image.new("RGB", (800, 340), "#f6f8fa")
    draw = ImageDraw.Draw(image)
    label(
        draw,
        20,
        20,
        [
            ("订单 Order", "BM-7K2Q9"),
            ("收件人 Recipient", "张** · 尾号 …34"),
            ("区域 District", "朝阳 3"),
            ("封条 Seal", "004512"),
        ],
        True,
        "正确 Correct",
    )
    label(
        draw,
        420,
        20,
        [
            ("订单 Order", "BM-7K2Q9"),
            ("姓名 Name", "张三 Zhang San"),
            ("电话 Phone", "138 0000 1234"),
            ("地址 Address", "建国路88号3单元502"),
        ],
        False,
        "错误 Wrong",
    )
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(
        OUT / "packing-label.png", optimize=True
    )


def seal(draw: ImageDraw.ImageDraw, x: int, y: int, ok: bool, title: str, note: str) -> None:
    w, h = 360, 300
    draw.rounded_rectangle(
        (x, y, x + w, y + h), radius=10, fill=PAPER, outline=GREEN if ok else RED, width=4
    )
    mark(draw, x + 12, y + 12, ok)
    draw.text((x + 66, y + 18), title, font=font(26), fill=GREEN if ok else RED)
    # The bag, folded over at the top, and the seal strip across the fold.
    draw.rectangle((x + 90, y + 90, x + 270, y + 250), fill="#c8a26b", outline=INK, width=2)
    draw.rectangle((x + 90, y + 90, x + 270, y + 120), fill="#b38b52", outline=INK, width=2)
    if ok:
        draw.rectangle((x + 160, y + 80, x + 200, y + 150), fill=GREEN, outline=INK, width=2)
        draw.text((x + 163, y + 104), "004512", font=font(10), fill=PAPER)
    else:
        draw.polygon(
            [
                (x + 160, y + 80),
                (x + 200, y + 80),
                (x + 200, y + 108),
                (x + 186, y + 114),
                (x + 172, y + 104),
                (x + 160, y + 112),
            ],
            fill=RED,
            outline=INK,
        )
        draw.polygon(
            [
                (x + 160, y + 122),
                (x + 172, y + 116),
                (x + 186, y + 126),
                (x + 200, y + 118),
                (x + 200, y + 150),
                (x + 160, y + 150),
            ],
            fill=RED,
            outline=INK,
        )
    draw.text((x + 16, y + 262), note, font=font(18), fill=INK)


def bag_seal() -> None:
    image = Image.new("RGB", (800, 340), "#f6f8fa")
    draw = ImageDraw.Draw(image)
    seal(draw, 20, 20, True, "完好 Intact", "封条号与标签一致 · number matches")
    seal(draw, 420, 20, False, "破损 Broken", "不要配送，报告 · do not deliver, report")
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(
        OUT / "bag-seal.png", optimize=True
    )


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    packing_label()
    bag_seal()
