"""The app's image loading: any file a person may upload -> an RGB array, or a clear message (app/images.py)."""
import io

import numpy as np
import pytest
from PIL import Image

from app.images import MAX_PIXELS, ImageError, load_image


def _save(tmp_path, name, im, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return str(p)


def test_rgb_png(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    img = load_image(_save(tmp_path, "a.png", Image.fromarray(arr)))
    assert img.array.shape == (40, 50, 3) and np.array_equal(img.array, arr)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, I am not a picture")
    with pytest.raises(ImageError, match="not an image"):
        load_image(str(p))


def test_empty_and_missing(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(str(p))
    with pytest.raises(ImageError, match="not found"):
        load_image(str(tmp_path / "nope.png"))
    with pytest.raises(ImageError, match="No image"):
        load_image(None)


def test_truncated(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    p = tmp_path / "cut.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt|decoded"):
        load_image(str(p))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        load_image(str(p))


def test_huge_image_refused_before_decoding(tmp_path):
    side = int(np.sqrt(MAX_PIXELS)) + 100  # ~51 MP: a 1-bit PNG of it is tiny on disk
    path = _save(tmp_path, "huge.png", Image.new("1", (side, side)))
    with pytest.raises(ImageError, match="megapixel"):
        load_image(path)


def test_one_pixel_image(tmp_path):
    with pytest.raises(ImageError, match="1x1 px"):
        load_image(_save(tmp_path, "one.png", Image.new("RGB", (1, 1), (255, 0, 0))))


def test_grayscale_rgba_16bit(tmp_path):
    gray = load_image(_save(tmp_path, "g.png", Image.new("L", (20, 16), 77)))
    assert gray.array.shape == (16, 20, 3) and (gray.array == 77).all()
    rgba = Image.new("RGBA", (20, 16), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    out = load_image(_save(tmp_path, "t.png", rgba)).array
    assert tuple(out[0, 0]) == (0, 0, 255) and tuple(out[5, 5]) == (255, 255, 255)  # transparent -> white
    a16 = np.full((16, 20), 65535, np.uint16)
    a16[0, 0] = 0
    img16 = load_image(_save(tmp_path, "d.png", Image.fromarray(a16)))
    assert tuple(img16.array[5, 5]) == (255, 255, 255) and tuple(img16.array[0, 0]) == (0, 0, 0)
    assert "16-bit" in img16.message


def test_exif_rotation(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # landscape 40 wide, 20 high; left half red
    arr[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = _save(tmp_path, "r.jpg", Image.fromarray(arr), exif=exif.tobytes(), quality=95)
    img = load_image(path)
    assert img.array.shape == (40, 20, 3)  # upright: portrait
    assert img.array[5, 10, 0] > 200 and img.array[35, 10, 0] < 60  # red (old left) now on top
    assert "EXIF" in img.message


def test_a_file_is_decoded_once_per_version(tmp_path):
    from app.images import load_image_file

    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path)
    first = load_image_file(str(path))
    assert load_image_file(str(path)) is first  # every view of one image reuses the decoded file
    Image.fromarray(np.full((24, 30, 3), 200, np.uint8)).save(path)  # same path, new content (size differs)
    again = load_image_file(str(path))
    assert again is not first and again.array.shape == (24, 30, 3) and int(again.array[0, 0, 0]) == 200
    with pytest.raises(ImageError, match="not found"):
        load_image_file(str(tmp_path / "missing.png"))
