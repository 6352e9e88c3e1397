import json

import pyarrow.parquet as pq
import pytest

from seller_core.data.yelp import describe_business, ingest_yelp, parse_attribute, parse_categories, to_epoch_ms
from seller_core.errors import BadInputError


def test_categories_are_one_comma_separated_string():
    assert parse_categories("Doctors, Naturopathic/Holistic,  Health & Medical, Doctors") == [
        "Doctors", "Naturopathic/Holistic", "Health & Medical"]
    assert parse_categories(None) == []
    assert parse_categories(["A", " B "]) == ["A", "B"]


def test_attribute_values_are_python_literals_in_strings():
    assert parse_attribute("True") is True
    assert parse_attribute("u'free'") == "free"
    assert parse_attribute("'none'") == "none"
    assert parse_attribute("None") is None
    assert parse_attribute("{'garage': False, 'lot': True}") == {"garage": False, "lot": True}
    assert parse_attribute("not a literal (") == "not a literal ("


def test_description_keeps_fig3_fields_only():
    obj = {"business_id": "x", "name": "UPS", "address": "87 Grasso", "city": "Affton", "state": "MO",
           "postal_code": "63123", "latitude": 38.5, "longitude": -90.3, "stars": 3.0, "review_count": 15,
           "is_open": 1, "attributes": {"BusinessAcceptsCreditCards": "True"}, "hours": None}
    desc = json.loads(describe_business(obj, ["Shipping Centers", "Notaries"]))
    assert list(desc) == ["name", "address", "city", "state", "stars", "stars_range", "attributes", "categories",
                          "hours", "is_open"]
    assert desc["stars_range"] == "2.5-3.5"
    assert desc["attributes"] == {"BusinessAcceptsCreditCards": True}
    assert desc["categories"] == ["Shipping Centers", "Notaries"]


def ingest(files, tmp_path, **kw):
    business, review = files
    kw.setdefault("min_stars", 4.0)
    stats = ingest_yelp(business, review, tmp_path / "inter.parquet", tmp_path / "items.parquet", **kw)
    return stats, pq.read_table(tmp_path / "inter.parquet").to_pylist(), pq.read_table(tmp_path / "items.parquet").to_pylist()


def test_ingest_keeps_every_positive_review_in_file_order(yelp_files, tmp_path):
    stats, inter, items = ingest(yelp_files, tmp_path)
    assert [i["raw_item_id"] for i in items] == ["b1-AAAAAAAAAAAAAAAAAAAA", "b2-BBBBBBBBBBBBBBBBBBBB"]
    assert items[0]["categories"] == ["Mexican", "Restaurants", "Naturopathic/Holistic"]
    assert json.loads(items[1]["description"])["hours"] is None
    # repeats and reviews of unknown or uncategorised businesses stay: filter_and_split drops and counts them
    assert [(r["raw_user_id"], r["raw_item_id"][:2], r["timestamp"]) for r in inter] == [
        ("u1", "b1", to_epoch_ms("2015-01-04 00:01:03")),
        ("u1", "b2", to_epoch_ms("2015-02-04 10:00:00")),
        ("u1", "b1", to_epoch_ms("2016-01-01 00:00:00")),
        ("u2", "b2", to_epoch_ms("2014-12-31 23:59:59")),
        ("u2", "zz", to_epoch_ms("2015-03-01 00:00:00")),
        ("u3", "b3", to_epoch_ms("2015-03-01 00:00:00")),
        ("u3", "b2", to_epoch_ms("2013-06-01 12:00:00")),
    ]
    assert to_epoch_ms("1970-01-01 00:00:10") == 10_000  # UTC, not local time; milliseconds
    assert stats["positive_reviews"] == 7 and stats["businesses_without_categories"] == 1


def test_min_stars_is_the_positive_rule(yelp_files, tmp_path):
    _, inter, _ = ingest(yelp_files, tmp_path, min_stars=2.0)
    assert len(inter) == 8


def test_malformed_review_line_names_file_and_line(yelp_files, tmp_path):
    business, review = yelp_files
    lines = review.read_text().splitlines()
    lines.insert(3, '{"review_id": "bad", "user_id": "u9", ')
    review.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as e:
        ingest(yelp_files, tmp_path)
    assert e.value.path == str(review) and e.value.line == 4
    assert f"{review}:4" in str(e.value) and "malformed JSON" in str(e.value)


def test_missing_review_field_names_key_and_line(yelp_files, tmp_path):
    business, review = yelp_files
    lines = review.read_text().splitlines()
    obj = json.loads(lines[5])
    del obj["business_id"]
    lines[5] = json.dumps(obj)
    review.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as e:
        ingest(yelp_files, tmp_path)
    assert (e.value.line, e.value.key) == (6, "business_id")


def test_bad_date_is_an_error(yelp_files, tmp_path):
    business, review = yelp_files
    review.write_text(review.read_text().replace("2016-01-01 00:00:00", "01/01/2016"))
    with pytest.raises(BadInputError) as e:
        ingest(yelp_files, tmp_path)
    assert (e.value.line, e.value.key) == (3, "date")


def test_skip_mode_counts_bad_records(yelp_files, tmp_path):
    business, review = yelp_files
    review.write_text(review.read_text() + "this is not json\n" + '{"user_id": "u1"}\n')
    business.write_text(business.read_text() + "{broken\n")
    stats, inter, _ = ingest(yelp_files, tmp_path, on_bad_record="skip")
    assert len(inter) == 7
    biz, rev = stats["bad_records"]
    assert biz["skipped"] == 1 and rev["skipped"] == 2


def test_business_error_names_line(yelp_files, tmp_path):
    business, _ = yelp_files
    business.write_text(business.read_text() + '{"name": "no id"}\n')
    with pytest.raises(BadInputError) as e:
        ingest(yelp_files, tmp_path)
    assert (e.value.line, e.value.key) == (4, "business_id")


def test_unreadable_file_is_named(yelp_files, tmp_path):
    business, review = yelp_files
    review.unlink()
    with pytest.raises(BadInputError, match="review.json: cannot read file"):
        ingest(yelp_files, tmp_path)
