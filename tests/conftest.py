"""Shared fixtures: tiny files in the real Yelp and KuaiRec formats, every known quirk included.

They are written by hand from what the real dumps contain (documented in seller_core.data.yelp
and seller_core.data.kuairec), so the tests never need the real data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _business(bid, name, categories, stars=4.0, attributes="default", hours="default"):
    obj = {
        "business_id": bid, "name": name, "address": "1 Main St", "city": "Tucson", "state": "AZ",
        "postal_code": "85711", "latitude": 32.2, "longitude": -110.9, "stars": stars, "review_count": 12,
        "is_open": 1,
        "attributes": {"BikeParking": "True", "WiFi": "u'free'", "Alcohol": "'none'", "RestaurantsPriceRange2": "2",
                       "BusinessParking": "{'garage': False, 'street': False, 'lot': True}"}
        if attributes == "default" else attributes,
        "categories": categories,
        "hours": {"Monday": "0:0-0:0", "Tuesday": "8:0-18:30"} if hours == "default" else hours,
    }
    # the real dump escapes "/" as "\/"
    return json.dumps(obj, ensure_ascii=False).replace("/", "\\/")


def _review(rid, uid, bid, stars, date, text="Great place!\nWould go again. \"Five\" stars, café ☕"):
    return json.dumps({"review_id": rid, "user_id": uid, "business_id": bid, "stars": stars, "useful": 0,
                       "funny": 0, "cool": 1, "text": text, "date": date})


@pytest.fixture
def yelp_files(tmp_path):
    """3 businesses (one without categories), 8 reviews (one low-star, one unknown business, one duplicate)."""
    business = tmp_path / "business.json"
    business.write_text("\n".join([
        _business("b1-AAAAAAAAAAAAAAAAAAAA", "Taco Place", "Mexican, Restaurants, Naturopathic/Holistic, Restaurants"),
        _business("b2-BBBBBBBBBBBBBBBBBBBB", "Bar None", "Bars, Nightlife", stars=3.0, attributes=None, hours=None),
        _business("b3-CCCCCCCCCCCCCCCCCCCC", "No Category Shop", None),
    ]) + "\n", encoding="utf-8")
    review = tmp_path / "review.json"
    review.write_text("\n".join([
        _review("r1", "u1", "b1-AAAAAAAAAAAAAAAAAAAA", 5.0, "2015-01-04 00:01:03"),
        _review("r2", "u1", "b2-BBBBBBBBBBBBBBBBBBBB", 4.0, "2015-02-04 10:00:00"),
        _review("r3", "u1", "b1-AAAAAAAAAAAAAAAAAAAA", 5.0, "2016-01-01 00:00:00"),  # repeat of (u1, b1)
        _review("r4", "u2", "b1-AAAAAAAAAAAAAAAAAAAA", 2.0, "2015-03-01 00:00:00"),  # not positive
        _review("r5", "u2", "b2-BBBBBBBBBBBBBBBBBBBB", 4.5, "2014-12-31 23:59:59"),
        _review("r6", "u2", "zz-unknown-business-id", 5.0, "2015-03-01 00:00:00"),  # not in business file
        _review("r7", "u3", "b3-CCCCCCCCCCCCCCCCCCCC", 5.0, "2015-03-01 00:00:00"),  # business without categories
        _review("r8", "u3", "b2-BBBBBBBBBBBBBBBBBBBB", 4.0, "2013-06-01 12:00:00", text=""),
    ]) + "\n", encoding="utf-8")
    return business, review


CAPTION_HEADER = ("video_id,manual_cover_text,caption,topic_tag,first_level_category_id,first_level_category_name,"
                  "second_level_category_id,second_level_category_name,third_level_category_id,third_level_category_name\n")


@pytest.fixture
def kuairec_files(tmp_path):
    captions = tmp_path / "kuairec_caption_category.csv"
    captions.write_bytes((
        CAPTION_HEADER
        # category names in Chinese, as in the real file (rows 0-2 are real rows)
        + "0,UNKNOWN,精神小伙路难走 程哥你狗粮慢点撒,[],8,颜值,673,颜值随拍,-124,UNKNOWN\n"
        + "1,UNKNOWN,,[],27,高新数码,-124,UNKNOWN,-124,UNKNOWN\n"
        # a bare carriage return inside an UNQUOTED caption: naive parsers split this record
        + "2,UNKNOWN,张凯教练：“我希望我们能开启一段王朝\r！”,[],6,明星娱乐,667,娱乐八卦,2375,饭制\n"
        # quoted caption with a comma, doubled quotes and a newline
        + '3,cover,"Dinner, then ""dessert""\nsecond line #food","[food,dessert]",12,美食,153,美食教程,1458,面点\n'
        # every level missing: categories come from item_categories.csv
        + "4,UNKNOWN,no category at all,[],-124,UNKNOWN,-124,UNKNOWN,-124,UNKNOWN\n"
    ).encode("utf-8"))
    item_categories = tmp_path / "item_categories.csv"
    item_categories.write_text('video_id,feat\n0,[8]\n1,"[27, 9]"\n2,[6]\n3,[5]\n4,"[11, 2]"\n', encoding="utf-8")
    matrix = tmp_path / "big_matrix.csv"
    rows = ["user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"]
    for i, (u, v, ratio) in enumerate([(14, 0, 2.5), (14, 1, 0.7), (14, 3, 3.1), (15, 2, 2.0), (15, 4, 4.0), (15, 2, 2.2),
                                       (16, 9, 5.0)]):
        ts = 1593898068.378 + 3600 * i
        rows.append(f"{u},{v},{int(ratio * 6000)},6000,2020-07-05 05:27:48.378,20200705,{ts:.3f},{ratio}")
    matrix.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return matrix, item_categories, captions
