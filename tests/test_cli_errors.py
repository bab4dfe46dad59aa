"""The CLI's last line of defence: every failure is one line on stderr, never a bare traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aekit.cli import main as cli


def fail_with(monkeypatch, exc: BaseException) -> None:
    """Make `aekit datasets` raise ``exc``."""
    parser, handlers = cli.build_parser()

    class Boom:
        @staticmethod
        def run(args):
            raise exc

    handlers = {**handlers, "datasets": Boom}
    monkeypatch.setattr(cli, "build_parser", lambda: (parser, handlers))


def test_a_bug_is_one_line_exit_1_with_the_traceback_in_a_file(monkeypatch, capsys):
    fail_with(monkeypatch, RuntimeError("shape mismatch\nsecond line of detail"))
    assert cli.main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "a bug in aekit" in err and "RuntimeError: shape mismatch" in err
    path = Path(re.search(r"the traceback is in (\S+)", err).group(1))
    assert "RuntimeError: shape mismatch" in path.read_text() and "Traceback" in path.read_text()
    path.unlink()


def test_verbose_shows_the_traceback_too(monkeypatch, capsys):
    fail_with(monkeypatch, KeyError("x"))
    assert cli.main(["-v", "datasets"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "a bug in aekit" in err.splitlines()[-1]
    Path(re.search(r"the traceback is in (\S+)", err).group(1)).unlink()


@pytest.mark.parametrize(
    "exc, words",
    [
        (PermissionError(13, "Permission denied", "/ro/run/eval.json"), "/ro/run/eval.json"),
        (OSError(28, "No space left on device"), "No space left on device"),
        (MemoryError(), "out of memory"),
    ],
)
def test_system_limits_are_user_errors_exit_2(monkeypatch, capsys, exc, words):
    fail_with(monkeypatch, exc)
    assert cli.main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aekit: error: ") and err.count("\n") == 1 and words in err


def test_a_file_or_folder_in_the_wrong_place_is_named_with_the_fix(tmp_path, capsys):
    """These were "cannot use afile: File exists", "cannot use runs.tmp: Is a directory",
    "config file ... not found" for a folder that exists, and a failed download."""
    (tmp_path / "afile").write_text("x")
    run = tmp_path / "run"
    (run).mkdir()
    (run / "config.json").write_text("{}")
    cases = {
        ("train", "--data", "digits", "--out", str(tmp_path / "afile" / "sub")): "is a file",
        ("train", "--config", str(run)): "is a folder.*--resume",
        ("train", "--data", "mnist", "--data-dir", str(tmp_path / "nope")): "not a folder",
    }
    for argv, words in cases.items():
        assert cli.main([*argv, "--epochs", "1", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(words, err), err
    assert not (tmp_path / "nope").exists()


def test_writing_over_a_folder_is_refused_before_anything_is_written(tmp_path):
    from aekit.errors import AekitError
    from aekit.run import atomic_write_text

    with pytest.raises(AekitError, match="it is a folder"):
        atomic_write_text(tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


def test_out_of_memory_advises_no_option_the_commands_lack(monkeypatch, capsys):
    fail_with(monkeypatch, MemoryError())
    assert cli.main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert "--limit" not in err and "--set data.limit=" in err


def test_output_into_a_reader_that_stops_early_ends_quietly():
    """`aekit models | head -1` printed "aekit: error: cannot use: Broken pipe"."""
    import subprocess
    import sys

    code = "import sys; from aekit.cli.main import main; sys.exit(main(['models']))"
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read().decode()
    assert p.wait() == 141 and err == ""


def test_under_torchrun_each_error_line_names_its_rank(monkeypatch, capsys):
    """Every process prints its own line (one rank's may differ from the others'): without the
    rank, N identical-looking lines read as one error repeated."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert cli.main(["train", "--recipe", "nope"]) == 2
    assert capsys.readouterr().err.startswith("aekit[rank 1]: error: unknown recipe 'nope'")


def test_a_one_class_bench_checks_its_classes_before_reading_any_data(tmp_path, capsys):
    """--classes 11 went looking for the MNIST files (a download) before saying anything."""
    argv = ["bench", "--task", "oneclass", "--classes", "11", "--data-dir", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "mnist has the classes 0 to 9" in capsys.readouterr().err
