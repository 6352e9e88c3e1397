import csv

import pyarrow.parquet as pq
import pytest

from seller_core.data.kuairec import CAPTION_COLUMNS, ingest_kuairec
from seller_core.errors import BadInputError


def ingest(files, tmp_path, **kw):
    matrix, tags, captions = files
    kw.setdefault("min_watch_ratio", 2.0)
    stats = ingest_kuairec(matrix, tags, captions, tmp_path / "inter.parquet", tmp_path / "items.parquet", **kw)
    return stats, pq.read_table(tmp_path / "inter.parquet").to_pylist(), pq.read_table(tmp_path / "items.parquet").to_pylist()


def test_fixture_reproduces_the_carriage_return_quirk(kuairec_files):
    _, _, captions = kuairec_files
    with open(captions, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) - 1 > 5  # a naive parse yields a spurious record
    assert any(not r[0].isdigit() for r in rows[1:])


def test_items_parse_with_named_levels_and_tag_fallback(kuairec_files, tmp_path):
    stats, _, items = ingest(kuairec_files, tmp_path)
    by_id = {i["raw_item_id"]: i for i in items}
    assert sorted(by_id, key=int) == ["0", "1", "2", "3", "4"]
    # the source's (Chinese) names: the translation stage turns them into English (test_category_names.py)
    assert by_id["0"]["categories"] == ["颜值", "颜值随拍"]
    assert by_id["1"]["categories"] == ["高新数码"]
    assert by_id["2"]["categories"] == ["明星娱乐", "娱乐八卦", "饭制"]
    assert by_id["2"]["name"].startswith("张凯教练") and "！”" in by_id["2"]["name"]
    assert by_id["3"]["categories"] == ["美食", "美食教程", "面点"]
    assert by_id["3"]["name"] == 'Dinner, then "dessert" second line #food'
    assert by_id["4"]["categories"] == ["tag 11", "tag 2"]
    assert by_id["1"]["name"] == "video 1"
    assert by_id["3"]["description"] == "美食, 美食教程, 面点"
    assert stats["videos_categories_from_feat_tags"] == 1


def test_positive_rule_in_file_order(kuairec_files, tmp_path):
    stats, inter, _ = ingest(kuairec_files, tmp_path)
    # the repeat (15, 2) and the video without metadata (9) stay: filter_and_split drops them
    assert [(r["raw_user_id"], r["raw_item_id"]) for r in inter] == [
        ("14", "0"), ("14", "3"), ("15", "2"), ("15", "4"), ("15", "2"), ("16", "9")]
    assert inter[0]["timestamp"] == 1593898068378  # epoch milliseconds: the fraction is kept
    assert stats["positive_rows"] == 6
    _, inter, _ = ingest(kuairec_files, tmp_path, min_watch_ratio=0.5)
    assert len(inter) == 7


def test_non_numeric_id_names_line_and_column(kuairec_files, tmp_path):
    matrix, _, _ = kuairec_files
    lines = matrix.read_text().splitlines()
    lines[3] = "x15" + lines[3][2:]
    matrix.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as e:
        ingest(kuairec_files, tmp_path)
    assert (e.value.path, e.value.line, e.value.key) == (str(matrix), 4, "user_id")


def test_missing_timestamp_is_an_error_or_counted(kuairec_files, tmp_path):
    matrix, _, _ = kuairec_files
    lines = matrix.read_text().splitlines()
    parts = lines[5].split(",")
    parts[6] = ""
    lines[5] = ",".join(parts)
    matrix.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as e:
        ingest(kuairec_files, tmp_path)
    assert (e.value.line, e.value.key) == (6, "timestamp")
    stats, inter, _ = ingest(kuairec_files, tmp_path, on_bad_record="skip")
    assert stats["bad_records"][2]["skipped"] == 1 and len(inter) == 5


def test_skip_mode_counts_unconvertible_rows(kuairec_files, tmp_path):
    matrix, _, _ = kuairec_files
    matrix.write_text(matrix.read_text() + "abc,0,1,1,t,d,1593898068.0,3.0\n")
    stats, inter, _ = ingest(kuairec_files, tmp_path, on_bad_record="skip")
    assert stats["bad_records"][2]["skipped"] == 1 and len(inter) == 6


def test_bad_caption_id_and_feat_are_errors(kuairec_files, tmp_path):
    _, tags, captions = kuairec_files
    original = captions.read_bytes()  # bytes: reading text would turn the bare \r into a newline
    captions.write_bytes(original + b"x7,UNKNOWN,c,[],1,A,-124,UNKNOWN,-124,UNKNOWN\n")
    with pytest.raises(BadInputError) as e:
        ingest(kuairec_files, tmp_path)
    assert (e.value.line, e.value.key) == (8, "video_id")  # the quoted caption spans two lines
    captions.write_bytes(original)
    tags.write_text(tags.read_text() + "5,[oops]\n")
    with pytest.raises(BadInputError) as e:
        ingest(kuairec_files, tmp_path)
    assert (e.value.line, e.value.key) == (7, "feat")


def test_wrong_header_is_an_error(kuairec_files, tmp_path):
    _, _, captions = kuairec_files
    captions.write_text("video_id,caption\n1,x\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="unexpected header"):
        ingest(kuairec_files, tmp_path)
    assert len(CAPTION_COLUMNS) == 10


def test_ingested_names_translate_to_english(kuairec_files, tmp_path):
    from seller_core.data.category_names import translate_items

    ingest(kuairec_files, tmp_path)
    translate_items(tmp_path / "items.parquet", tmp_path / "items_en.parquet", tmp_path / "names.parquet")
    by_id = {i["raw_item_id"]: i for i in pq.read_table(tmp_path / "items_en.parquet").to_pylist()}
    assert by_id["0"]["categories"] == ["Good Looks", "Good-Looks Snapshots"]
    assert by_id["2"]["categories"] == ["Celebrity Entertainment", "Entertainment Gossip", "Fan Edits"]
    assert by_id["3"]["description"] == "Food, Cooking Tutorials, Buns & Dumplings"
    assert by_id["3"]["categories_raw"] == ["美食", "美食教程", "面点"]
    assert by_id["4"]["categories"] == ["tag 11", "tag 2"]
