import pytest

from spikegrad.atomic import atomic_write


def test_writes_complete_content_with_ordinary_permissions(tmp_path):
    path = atomic_write(tmp_path / "sub" / "f.txt", lambda tmp: open(tmp, "w").write("new"))
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o644 == 0o644


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write(tmp_path / "f.txt", lambda tmp: open(tmp, "w").write("old"))

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
