import numpy as np
from PIL import Image

from repro.cli import main


def test_demo_writes_faces_that_look_where_expected(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--max-deg", "0", "--height", "64", "--face-w", "32"]) == 0
    faces = {n: np.asarray(Image.open(tmp_path / f"face_{n}.png")) for n in "FRBLUD"}
    assert all(f.shape == (32, 32, 3) for f in faces.values())
    assert np.asarray(Image.open(tmp_path / "panorama.png")).shape == (64, 128, 3)
    # without rotation each face centre sees its own wall: F yellow (+z), R green (+x), U dark ceiling
    yellow, green = faces["F"][16, 16].astype(int), faces["R"][16, 16].astype(int)
    assert yellow[0] > 150 and yellow[1] > 130 and yellow[2] < 110
    assert green[1] > green[0] + 50 and green[1] > green[2] + 50
    assert faces["U"][16, 16].max() < 120 and faces["D"][16, 16].min() > 150


def test_demo_rotation_changes_the_faces(tmp_path):
    main(["demo", "--out", str(tmp_path / "a"), "--height", "64", "--face-w", "32", "--seed", "1"])
    main(["demo", "--out", str(tmp_path / "b"), "--height", "64", "--face-w", "32", "--seed", "2"])
    a = np.asarray(Image.open(tmp_path / "a" / "face_F.png"))
    b = np.asarray(Image.open(tmp_path / "b" / "face_F.png"))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5
