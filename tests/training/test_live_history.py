"""A resumed trainer's live plots continue those of the run it resumes: rows a killed run logged past
its checkpoint, and a half-written last row, are dropped before the resumed run appends."""
from __future__ import annotations

from audiogen.training.live_history import trim_after


def test_rows_past_the_checkpoint_and_a_partial_row_are_dropped(tmp_path):
    plots = tmp_path / "plots" / "metrics"
    (plots / "train").mkdir(parents=True)
    (plots / "train" / "loss.tsv").write_text("step\tloss\n1\t3.0\n2\t2.5\n3\t2.2\n4\t2.0\n5\t1.9", encoding="utf-8")
    (plots / "lr.tsv").write_text("step\tlr\n2\t0.1\n4\t0.2\n", encoding="utf-8")
    assert trim_after(tmp_path, 3) == 3  # steps 4 and 5 (half a row) of loss, step 4 of lr
    assert (plots / "train" / "loss.tsv").read_text() == "step\tloss\n1\t3.0\n2\t2.5\n3\t2.2\n"
    assert (plots / "lr.tsv").read_text() == "step\tlr\n2\t0.1\n"
    assert trim_after(tmp_path, 3) == 0  # nothing more to drop: files untouched
    assert sorted(p.name for p in plots.rglob("*")) == ["loss.tsv", "lr.tsv", "train"]


def test_no_live_folder_is_nothing_to_trim(tmp_path):
    assert trim_after(tmp_path / "absent", 10) == 0
