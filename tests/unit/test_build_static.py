"""nginx/build_static.py: the page's files as nginx serves them, made one way for the image and
the twin."""

import gzip
import re
import subprocess
import sys
from pathlib import Path

from local.twin import nginx as twin_nginx
from tests.support.paths import ROOT

SCRIPT = ROOT / "nginx" / "build_static.py"
STATIC = ROOT / "nginx" / "static"


def build(dest: Path) -> dict[str, str]:
    result = subprocess.run([sys.executable, str(SCRIPT), str(STATIC), str(dest)],
                            capture_output=True, text=True, check=True)
    return dict(line.split(" -> ") for line in result.stdout.splitlines())


def test_every_file_but_the_page_gets_its_hash_and_the_page_names_them(tmp_path: Path) -> None:
    names = build(tmp_path / "html")
    assert names.pop("index.html") == "index.html"
    assert set(names) == {p.name for p in STATIC.iterdir()} - {"index.html"}
    page = (tmp_path / "html" / "index.html").read_text()
    for original, served in names.items():
        assert re.fullmatch(r"[a-z]+\.[0-9a-f]{12}\.(js|css|svg)", served), served
        assert f'"/{served}"' in page and f'"/{original}"' not in page
        assert (tmp_path / "html" / served).read_bytes() == (STATIC / original).read_bytes()


def test_each_text_file_has_an_identical_gzip_copy_and_builds_are_reproducible(
    tmp_path: Path,
) -> None:
    build(tmp_path / "one")
    build(tmp_path / "two")
    served = sorted(p.name for p in (tmp_path / "one").iterdir() if p.suffix != ".gz")
    for name in served:
        plain = (tmp_path / "one" / name).read_bytes()
        assert gzip.decompress((tmp_path / "one" / f"{name}.gz").read_bytes()) == plain
    for path in (tmp_path / "one").iterdir():
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes(), path.name


def test_a_changed_file_gets_a_new_name(tmp_path: Path) -> None:
    source = tmp_path / "static"
    source.mkdir()
    (source / "index.html").write_text('<link href="/style.css"><script src="/app.js"></script>')
    (source / "app.js").write_text("1")
    (source / "style.css").write_text("a {}")
    first = subprocess.run([sys.executable, str(SCRIPT), str(source), str(tmp_path / "out")],
                           capture_output=True, text=True, check=True).stdout
    (source / "app.js").write_text("2")
    second = subprocess.run([sys.executable, str(SCRIPT), str(source), str(tmp_path / "out")],
                            capture_output=True, text=True, check=True).stdout
    assert first != second and "style.css" in first
    # The earlier build's file stays: a page loaded just before still finds it.
    assert len(list((tmp_path / "out").glob("app.*.js"))) == 2


def test_the_image_and_the_twin_run_the_same_script() -> None:
    dockerfile = (ROOT / "nginx" / "Dockerfile").read_text()
    assert "RUN python3 /build/build_static.py /build/static /build/html" in dockerfile
    assert "COPY --from=static /build/html/ /usr/share/nginx/html/" in dockerfile
    assert twin_nginx.BUILD_STATIC == SCRIPT and twin_nginx.STATIC == STATIC
