"""Synthetic Yelp and KuaiRec dumps, written in the real raw file formats (quirks included).

The real dumps cannot be downloaded on the build machines, so the embedded default and the
benchmarks generate look-alikes that go through exactly the same ingestion code as the real files.

Formats reproduced (checked against slices of the real files):
- Yelp `business.json` / `review.json`: compact JSON lines, real key order, non-ASCII written raw
  (UTF-8), "/" escaped as "\\/"; `categories` is ONE ", "-joined string (null for a few
  businesses), `attributes` values are Python-literal strings ("True", "u'free'", "'none'",
  "{'garage': False, 'lot': True}") or `attributes` is null, `hours` is a dict or null; review
  `stars` is a float, `date` "YYYY-MM-DD HH:MM:SS", `text` holds newlines, quotes, apostrophes,
  accents and emoji.
- KuaiRec `big_matrix.csv`: one row per view, grouped by user and in time order; `time` is Beijing
  time with milliseconds, `date` is written as a float (`20200705.0`, as pandas wrote the real file),
  `timestamp` is epoch seconds with milliseconds, `watch_ratio = play_duration / video_duration`
  (shortest float repr). `item_categories.csv`: `feat` like `[8]` or `"[27, 9]"`.
  `kuairec_caption_category.csv`: `-124`/`UNKNOWN` for missing levels; captions with commas,
  doubled quotes and newlines inside quoted fields, Chinese text and emoji, and in a few rows a
  bare carriage return inside an UNQUOTED caption (the real file has four such rows; a naive CSV
  reader splits each into two spurious records).

Generative model (what downstream models can and cannot learn from this data):
- Interest units sit on a ring: Yelp units are leaf categories (ring order keeps categories of the
  same family, e.g. Asian restaurants, adjacent); KuaiRec units are second-level categories,
  ordered by their first-level parent. With few items, a subset of units evenly spaced along the
  ring is used (about `items / 12` units), so neighbouring units stay related.
- Every item has one primary unit. A Yelp business lists its primary category, 1-4 related
  categories drawn from its ring neighbourhood (distance 1-3, nearer ones likelier) and usually its
  family name ("Restaurants", "Health & Medical"), in shuffled order, so neighbouring units share
  category names. A KuaiRec video has a 1-3 level path (first > second > third level); the third
  level, or the second and third, are unknown for many videos, all three for a few.
- Item popularity is Zipf-like, w = rank^-0.6 over a random ranking of all items; units are as
  popular as the sum of their items' weights.
- Each user walks a Markov chain over units: at each event stay with probability 0.62, step to a
  ring neighbour (+1 or -1) with 0.32, jump with 0.06 (to a popularity-weighted unit; the first
  unit is drawn the same way). The event's item is drawn within the current unit proportionally
  to w (a repeat of an item the user already had is redrawn once). So the next item depends on
  the recent ones (sequence models beat static ones), popular items dominate (most-popular is a
  real baseline), and the target's categories are predictable from the history's.
- Noise events, a `noise` share of each user's events, ignore the walk: the item is drawn from
  global popularity and the feedback is negative (Yelp: 1-3 stars; KuaiRec: watch ratio mostly
  < 2). In-interest feedback is mostly positive (Yelp: 88 % at >= 4 stars; KuaiRec: ~67 % at
  watch ratio >= 2), so the positive rule must drop the rest.
- Events per user: a floor of 0.4x the mean plus a Gamma(2) tail. Timestamps are strictly
  increasing per user, inside a per-user activity window (Yelp 25-90 % of 2010-2021, KuaiRec
  40-100 % of 2020-07-05..2020-09-05) placed uniformly, so a global 80/10/10 time cut leaves many
  users with history before the cut and targets after it.

Generation is vectorised with numpy and pyarrow and streamed in chunks of users, so memory is
bounded whatever the size. Every random draw comes from a numpy Generator seeded from `seed` and
the chunk index: the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

ID_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
ID_LEN = 22

POPULARITY_EXPONENT = 0.6
P_STAY, P_STEP, P_JUMP = 0.62, 0.32, 0.06
ITEMS_PER_UNIT = 12
MIN_EVENTS_SHARE = 0.4

YELP_START = 1262304000  # 2010-01-01 00:00:00
YELP_END = 1640995199  # 2021-12-31 23:59:59
YELP_WINDOW = (0.25, 0.90)
YELP_USERS_PER_CHUNK = 4096
YELP_POSITIVE_STARS = np.array([0.02, 0.03, 0.07, 0.33, 0.55])  # P(1..5 stars) of in-interest reviews
YELP_NOISE_STARS = np.array([0.35, 0.30, 0.35, 0.0, 0.0])

BEIJING = 8 * 3600
KUAI_START_MS = 1593878400 * 1000  # 2020-07-05 00:00:00 Beijing
KUAI_END_MS = 1599292799 * 1000  # 2020-09-05 23:59:59 Beijing
KUAI_WINDOW = (0.40, 1.00)
KUAI_USERS_PER_CHUNK = 2048
KUAI_NOISE = 0.25


# --------------------------------------------------------------------------------------------
# Taxonomies. Yelp: (family, [leaf categories]) in ring order. "/" names are real Yelp names and
# exercise the "\/" escape.
YELP_FAMILIES = [
    ("Restaurants", ["Chinese", "Dim Sum", "Szechuan", "Hot Pot", "Japanese", "Sushi Bars", "Ramen", "Korean",
                     "Thai", "Vietnamese", "Pho", "Indian"]),
    ("Restaurants", ["Italian", "Pizza", "Mediterranean", "Greek", "French", "Steakhouses", "Seafood",
                     "American (New)", "American (Traditional)", "Burgers", "Fast Food", "Chicken Wings",
                     "Sandwiches", "Delis", "Mexican", "Tex-Mex", "Tacos"]),
    ("Food", ["Breakfast & Brunch", "Cafes", "Coffee & Tea", "Bubble Tea", "Bakeries", "Desserts",
              "Ice Cream & Frozen Yogurt", "Juice Bars & Smoothies", "Donuts", "Specialty Food", "Grocery"]),
    ("Nightlife", ["Bars", "Cocktail Bars", "Wine Bars", "Pubs", "Sports Bars", "Breweries", "Dive Bars",
                   "Lounges", "Dance Clubs", "Karaoke"]),
    ("Arts & Entertainment", ["Music Venues", "Performing Arts", "Cinema", "Museums", "Art Galleries",
                              "Arcades", "Bowling", "Escape Games"]),
    ("Event Planning & Services", ["Caterers", "Venues & Event Spaces", "Wedding Planning", "Photographers",
                                   "DJs", "Party Supplies"]),
    ("Hotels & Travel", ["Hotels", "Bed & Breakfast", "Vacation Rentals", "Tours", "Car Rental",
                         "Airport Shuttles"]),
    ("Active Life", ["Parks", "Hiking", "Golf", "Swimming Pools", "Gyms", "Trainers", "Yoga", "Pilates",
                     "Cycling Classes", "Martial Arts", "Boxing"]),
    ("Beauty & Spas", ["Day Spas", "Massage", "Skin Care", "Waxing", "Hair Removal", "Eyelash Service",
                       "Nail Salons", "Hair Salons", "Barbers", "Makeup Artists", "Tattoo"]),
    ("Health & Medical", ["Massage Therapy", "Acupuncture", "Naturopathic/Holistic", "Chiropractors",
                          "Physical Therapy", "Doctors", "Dentists", "General Dentistry", "Cosmetic Dentists",
                          "Optometrists"]),
    ("Pets", ["Veterinarians", "Pet Groomers", "Pet Stores", "Pet Sitting", "Dog Walkers", "Pet Boarding"]),
    ("Home Services", ["Home Cleaning", "Handyman", "Contractors", "Plumbing", "Electricians",
                       "Heating & Air Conditioning/HVAC", "Roofing", "Landscaping", "Movers", "Pest Control"]),
    ("Automotive", ["Auto Repair", "Oil Change Stations", "Tires", "Body Shops", "Towing", "Car Wash",
                    "Auto Detailing", "Car Dealers", "Auto Parts & Supplies"]),
    ("Local Services", ["Keys & Locksmiths", "Self Storage", "Shipping Centers", "Notaries", "Printing Services",
                        "Dry Cleaning & Laundry", "Sewing & Alterations", "Mobile Phone Repair",
                        "IT Services & Computer Repair"]),
    ("Shopping", ["Electronics", "Mobile Phones", "Bookstores", "Furniture Stores", "Home & Garden",
                  "Department Stores", "Fashion", "Women's Clothing", "Men's Clothing", "Shoe Stores",
                  "Jewelry", "Thrift Stores", "Vintage & Consignment"]),
]
RESTAURANT_FAMILIES = {"Restaurants", "Food", "Nightlife"}

# KuaiRec: (first-level id, name, [(second-level name, [third-level names])]); ids 0-30 so that a
# video's first-level id doubles as its `feat` tag, as in the real files (video 1: [27, 9], level 27).
KUAI_TAXONOMY = [
    (12, "Food", [("Home cooking", ["Noodles", "Dumplings", "Baking"]),
                  ("Street food", ["Barbecue", "Snacks"]),
                  ("Restaurant visits", ["Hot pot", "Seafood", "Buffets"])]),
    (11, "Daily life", [("Rural life", ["Farming", "Village cooking"]),
                        ("Daily vlog", ["Morning routine", "Shopping haul"])]),
    (20, "Parenting", [("Toddlers", ["First words", "Bedtime"]),
                       ("Education", ["Homework help", "Science games"])]),
    (19, "Emotions", [("Family relationships", ["Parents", "Siblings"]),
                      ("Love stories", ["Couples", "Breakups"])]),
    (9, "Comedy", [("Funny interactions", ["Pranks", "Street interviews"]),
                   ("Sketches", ["Parody", "Office comedy"])]),
    (6, "Celebrities", [("Celebrity gossip", ["Awards", "Red carpet"]),
                        ("Fan edits", ["Idol clips", "Drama scenes"])]),
    (2, "Music", [("Singing", ["Covers", "Original songs"]),
                  ("Instruments", ["Guitar", "Piano", "Erhu"])]),
    (8, "Looks", [("Selfie clips", ["Makeup looks", "Outfit of the day"]),
                  ("Dance clips", ["Street dance", "Square dance"])]),
    (5, "Fashion", [("Outfits", ["Women's clothing", "Men's clothing"]),
                    ("Beauty products", ["Lipstick", "Skincare"])]),
    (26, "Photography", [("Landscape photography", ["Sunsets", "City nights"]),
                         ("Portraits", ["Street portraits", "Kids portraits"])]),
    (27, "Tech & gadgets", [("Phones", ["Phone reviews", "Unboxing"]),
                            ("Computers", ["PC builds", "Software tips"])]),
    (7, "Games", [("Mobile games", ["Battle royale", "MOBA"]),
                  ("Esports", ["Tournaments", "Highlights"])]),
    (13, "Sports", [("Basketball", ["Street ball", "NBA highlights"]),
                    ("Fitness", ["Home workouts", "Yoga"])]),
    (15, "Pets", [("Dogs", ["Puppies", "Dog training"]),
                  ("Cats", ["Kittens", "Funny cats"])]),
    (25, "Cars", [("Car reviews", ["SUVs", "Electric cars"]),
                  ("Driving", ["Road trips", "Driving lessons"])]),
    (28, "News & society", [("Social events", ["Local news", "Odd stories"]),
                            ("Public service", ["Traffic safety", "Weather alerts"])]),
]


# --------------------------------------------------------------------------------------------
# Shared machinery


@dataclass
class _World:
    n_units: int
    item_unit: np.ndarray  # primary unit of each item
    order: np.ndarray  # item ids sorted by unit
    cum_w: np.ndarray  # inclusive cumulative popularity along `order`
    unit_lo: np.ndarray  # cumulative weight before each unit's first item
    unit_hi: np.ndarray  # cumulative weight after each unit's last item
    unit_first: np.ndarray  # index in `order` of each unit's first item
    unit_last: np.ndarray
    unit_p: np.ndarray  # jump probabilities
    global_cum: np.ndarray  # inclusive cumulative popularity over item ids (noise draws)


def _build_world(rng: np.random.Generator, n_units: int, n_items: int) -> _World:
    # every unit gets an item; the rest go to units of uneven size
    sizes = np.ones(n_units, dtype=np.int64)
    sizes += rng.multinomial(n_items - n_units, rng.dirichlet(np.full(n_units, 4.0)))
    item_unit = rng.permutation(np.repeat(np.arange(n_units), sizes))
    weight = (rng.permutation(n_items) + 1.0) ** -POPULARITY_EXPONENT
    order = np.argsort(item_unit, kind="stable")
    cum_w = np.cumsum(weight[order])
    unit_last = np.cumsum(sizes) - 1
    unit_first = unit_last - sizes + 1
    unit_hi = cum_w[unit_last]
    unit_lo = np.concatenate([[0.0], unit_hi[:-1]])
    unit_p = (unit_hi - unit_lo) / cum_w[-1]
    return _World(n_units, item_unit, order, cum_w, unit_lo, unit_hi, unit_first, unit_last, unit_p,
                  np.cumsum(weight))


def _spread(n_total: int, n_wanted: int) -> np.ndarray:
    """Indices of n_wanted units evenly spaced along a ring of n_total (all when n_wanted >= n_total)."""
    if n_wanted >= n_total:
        return np.arange(n_total)
    return np.floor(np.arange(n_wanted) * (n_total / n_wanted)).astype(np.int64)


def _n_units(n_items: int, n_available: int) -> int:
    return int(max(1, min(n_available, n_items, round(n_items / ITEMS_PER_UNIT))))


def _events_per_user(rng, n_users: int, mean: float) -> np.ndarray:
    floor = max(1, int(round(MIN_EVENTS_SHARE * mean)))
    tail = max(mean - floor, 0.0)
    extra = np.floor(rng.gamma(2.0, tail / 2.0, size=n_users)) if tail > 0 else np.zeros(n_users)
    return (floor + extra).astype(np.int64)


@dataclass
class _Events:
    user: np.ndarray  # chunk-local user index, non-decreasing
    rank: np.ndarray  # position within the user's sequence
    unit: np.ndarray
    item: np.ndarray
    noise: np.ndarray  # bool


def _walk(rng, world: _World, lengths: np.ndarray, noise_share: float) -> _Events:
    n = int(lengths.sum())
    user = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rank = np.arange(n) - np.repeat(starts, lengths)

    u = rng.random(n)
    jump = (rank == 0) | (u < P_JUMP)
    delta = np.where(u < P_JUMP + P_STEP / 2, 1, np.where(u < P_JUMP + P_STEP, -1, 0))
    delta[jump] = 0
    anchor = np.zeros(n, dtype=np.int64)
    anchor[jump] = rng.choice(world.n_units, size=int(jump.sum()), p=world.unit_p)
    last_jump = np.maximum.accumulate(np.where(jump, np.arange(n), 0))
    cum = np.cumsum(delta)
    unit = (anchor[last_jump] + cum - cum[last_jump]) % world.n_units

    item = _draw_in_unit(rng, world, unit)
    # a repeat of an item the user already had gets one redraw (repeats stay possible, as in Yelp)
    key = user * np.int64(len(world.item_unit)) + item
    _, first = np.unique(key, return_index=True)
    repeat = np.ones(n, dtype=bool)
    repeat[first] = False
    item[repeat] = _draw_in_unit(rng, world, unit[repeat])

    noise = rng.random(n) < noise_share
    noise_items = np.searchsorted(world.global_cum, rng.random(int(noise.sum())) * world.global_cum[-1], side="right")
    item[noise] = np.minimum(noise_items, len(world.item_unit) - 1)
    return _Events(user, rank, unit, item, noise)


def _draw_in_unit(rng, world: _World, unit: np.ndarray) -> np.ndarray:
    lo, hi = world.unit_lo[unit], world.unit_hi[unit]
    pos = np.searchsorted(world.cum_w, lo + rng.random(len(unit)) * (hi - lo), side="right")
    pos = np.clip(pos, world.unit_first[unit], world.unit_last[unit])
    return world.order[pos]


def _event_times(rng, ev: _Events, lengths: np.ndarray, start: int, end: int, window: tuple[float, float],
                 tick: int) -> np.ndarray:
    """Strictly increasing integer times (in `tick` units) per user, inside a per-user window."""
    n_users = len(lengths)
    span = end - start
    frac = rng.uniform(*window, size=n_users)
    dur = np.maximum((frac * span).astype(np.int64), lengths * tick + 1)
    begin = start + (rng.random(n_users) * np.maximum(span - dur, 0)).astype(np.int64)
    # sorted uniforms within each user: offset by user index, sort, remove the offset
    u = np.sort(ev.user + rng.random(len(ev.user))) - ev.user
    free = dur[ev.user] - lengths[ev.user] * tick
    # floor keeps order, + rank makes it strict
    return begin[ev.user] + (u * free).astype(np.int64) // tick * tick + ev.rank * tick


def random_ids(rng, n: int) -> pa.StringArray:
    """n random 22-character url-safe ids, like Yelp's."""
    chars = ID_ALPHABET[rng.integers(0, 64, size=n * ID_LEN)]
    offsets = np.arange(0, (n + 1) * ID_LEN, ID_LEN, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _json_str(s: str) -> str:
    """The inside of a JSON string as the real Yelp dump writes it: raw UTF-8, "/" escaped."""
    return json.dumps(s, ensure_ascii=False)[1:-1].replace("/", "\\/")


def _yelp_json(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")


def _write_lines(f, lines: pa.Array) -> None:
    """Write a string array whose values already end in a newline, without copying per value."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset: lines.offset + len(lines) + 1]
    f.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _prepare(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_sizes(users: int, items: int) -> None:
    if int(users) < 1 or int(items) < 1:
        raise ValueError(f"synthetic data needs at least one user and one item (users={users}, items={items})")


# --------------------------------------------------------------------------------------------
# Yelp

REVIEW_OPENERS_POS = [
    "Absolutely loved this place!", "Great experience from start to finish.", "Wow!  Yummy, different,  delicious.",
    "Five stars, no question \U0001F44D", "Can't say enough good things about this spot.",
    "We'll definitely be back.", "Hidden gem!!!", "My new favorite \u2764\ufe0f",
    "Friendly staff and a really \"homey\" feel.", "Best in town, hands down.",
]
REVIEW_OPENERS_NEG = [
    "Really disappointed this time.", "Not worth the wait.", "Meh.  It was ok I guess...",
    "I wanted to like this place, I really did.", "Won't be coming back \U0001F612",
    "The \"service\" was a joke.", "Overpriced for what you get.", "Two words: never again.",
]
REVIEW_MENTIONS = [" I came for the ", " Tried their ", " If you're into ", " Came here looking for "]
REVIEW_BODIES = [
    "The owner (?) gave us a tour and was super welcoming.",
    "Parking was a bit of a pain, but the lot around the corner is free after 6pm.",
    "Had the jalape\u00f1o special and a caf\u00e9 au lait - both spot on.",
    "Staff checked in/out with us a couple of times without hovering.",
    "Prices are fair; I paid $25 for two and left full.",
    "They were out of the cr\u00e8me br\u00fbl\u00e9e, which was sad \U0001F622",
    "Clean space, good music, and the wait was under 10 minutes.",
    "My friend said it's \"the best she's had,\" and she's picky.",
    "Booking online was easy and they were on time.",
    "The place was packed on a Saturday night, so go early.",
    "It took 45 minutes and nobody apologized.",
    "Everything felt rushed and the room was noisy.",
    "Na\u00efve me expected more after all the reviews.",
    "Kids loved it \U0001F60B and the staff were patient with them.",
    "Half the menu/options weren't available.",
    "Great value, especially the lunch deal.",
]
REVIEW_CLOSERS = [
    "", "", "", "\n\nHighly recommend!", "\n\nUpdate: went back a week later and it was just as good.",
    "\n\nTip: ask for Maria, she's great.", "\n\n2 stars for the location.",
    "\n\nP.S. cash only \U0001F4B5",
]
NAME_PREFIXES = ["Golden", "Sunrise", "Maple", "Joe's", "Lucky", "Old Town", "Blue Door", "Main Street",
                 "Caf\u00e9 Ol\u00e9", "Riverside", "Little", "Big Sky", "Mama Rosa's", "Uptown", "Silver Oak",
                 "Green Leaf", "Corner", "Happy", "Eastside", "North Star", "L'Atelier", "Red Rock"]
STREETS = ["Chapala St", "Main St", "Walnut St", "Race St", "E Broadway Blvd", "Pasadena Ave S", "Dickerson Pike",
           "Airline Dr", "South St", "Adams St", "N Stone Ave", "Eager Road", "Bay Dr", "Village Lakes Dr"]
METROS = [  # city, state, latitude, longitude, zip prefix ("" = Canadian postal code)
    ("Philadelphia", "PA", 39.9526, -75.1652, "191"), ("Tampa", "FL", 27.9506, -82.4572, "336"),
    ("Indianapolis", "IN", 39.7684, -86.1581, "462"), ("Tucson", "AZ", 32.2226, -110.9747, "857"),
    ("Nashville", "TN", 36.1627, -86.7816, "372"), ("New Orleans", "LA", 29.9511, -90.0715, "701"),
    ("Reno", "NV", 39.5296, -119.8138, "895"), ("St. Louis", "MO", 38.6270, -90.1994, "631"),
    ("Edmonton", "AB", 53.5461, -113.4938, ""), ("Santa Barbara", "CA", 34.4208, -119.6982, "931"),
    ("Boise", "ID", 43.6150, -116.2023, "837"), ("Wilmington", "DE", 39.7391, -75.5398, "198"),
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
BOOL_STR = ["True", "False"]


def _yelp_attributes(rng, restaurant: bool) -> dict | None:
    if rng.random() < 0.08:
        return None
    attrs = {}
    if rng.random() < 0.8:
        attrs["BusinessAcceptsCreditCards"] = BOOL_STR[rng.random() < 0.1]
    if rng.random() < 0.3:
        attrs["ByAppointmentOnly"] = BOOL_STR[rng.random() < 0.6]
    if rng.random() < 0.6:
        if rng.random() < 0.05:
            attrs["BusinessParking"] = "None"
        else:
            p = "u" if rng.random() < 0.2 else ""
            keys = ["garage", "street", "validated", "lot", "valet"]
            attrs["BusinessParking"] = "{" + ", ".join(
                f"{p}'{k}': {['False', 'True', 'None'][rng.choice(3, p=[0.6, 0.3, 0.1])]}" for k in keys) + "}"
    if rng.random() < 0.5:
        attrs["BikeParking"] = BOOL_STR[rng.random() < 0.3]
    if restaurant:
        attrs["RestaurantsPriceRange2"] = str(1 + rng.choice(4, p=[0.35, 0.5, 0.12, 0.03]))
        attrs["RestaurantsTakeOut"] = BOOL_STR[rng.random() < 0.2]
        attrs["WiFi"] = ["u'free'", "u'no'", "'free'", "'no'", "u'paid'"][rng.choice(5, p=[0.35, 0.3, 0.15, 0.15, 0.05])]
        attrs["Alcohol"] = ["u'none'", "'none'", "u'full_bar'", "'full_bar'", "u'beer_and_wine'"][rng.integers(5)]
        if rng.random() < 0.6:
            keys = ["romantic", "intimate", "touristy", "hipster", "divey", "classy", "trendy", "upscale", "casual"]
            attrs["Ambience"] = "{" + ", ".join(f"'{k}': {BOOL_STR[rng.random() < 0.8]}" for k in keys) + "}"
        if rng.random() < 0.4:
            keys = ["dessert", "latenight", "lunch", "dinner", "brunch", "breakfast"]
            attrs["GoodForMeal"] = "{" + ", ".join(f"'{k}': {BOOL_STR[rng.random() < 0.7]}" for k in keys) + "}"
        if rng.random() < 0.5:
            attrs["NoiseLevel"] = ["u'average'", "u'quiet'", "'average'", "u'loud'"][rng.integers(4)]
        if rng.random() < 0.5:
            attrs["RestaurantsAttire"] = ["u'casual'", "'casual'", "u'dressy'"][rng.choice(3, p=[0.5, 0.4, 0.1])]
    elif rng.random() < 0.3:
        attrs["WheelchairAccessible"] = BOOL_STR[rng.random() < 0.2]
    return attrs or {"BusinessAcceptsCreditCards": "True"}


def _yelp_hours(rng) -> dict | None:
    if rng.random() < 0.17:
        return None
    days = WEEKDAYS[: [7, 6, 5, 7, 4][rng.choice(5, p=[0.5, 0.15, 0.15, 0.1, 0.1])]]
    open_h, close_h = int(rng.integers(6, 12)), int(rng.integers(14, 24))
    mins = ["0", "30"]
    hours = {}
    for i, d in enumerate(days):
        if i == 0 and rng.random() < 0.1:
            hours[d] = "0:0-0:0"
        else:
            late = int(close_h + (1 if i >= 4 and rng.random() < 0.5 else 0)) % 24
            hours[d] = f"{open_h}:{mins[rng.random() < 0.2]}-{late}:{mins[rng.random() < 0.3]}"
    return hours


def _yelp_business_categories(rng, world: _World, full_index: np.ndarray, family_of: list[str],
                              names: list[str]) -> list[list[str]]:
    """Per item: primary + 1-4 ring neighbours (in the full taxonomy) + usually the family name."""
    n_full = len(names)
    out = []
    for item in range(len(world.item_unit)):
        primary = int(full_index[world.item_unit[item]])
        k = int(rng.integers(1, 5))
        dist = rng.choice([1, 2, 3], size=k, p=[0.5, 0.3, 0.2]) * rng.choice([-1, 1], size=k)
        cats = [names[primary]]
        for d in dist:
            name = names[(primary + int(d)) % n_full]
            if name not in cats:
                cats.append(name)
        family = family_of[primary]
        if rng.random() < 0.8 and family not in cats:
            cats.append(family)
        out.append([cats[i] for i in rng.permutation(len(cats))])
    return out


def synthesize_yelp(business_path, review_path, *, users: int, items: int, seed: int = 0,
                    interactions_per_user: float = 30.0, noise_reviews_per_user: float = 3.0) -> dict:
    """Write a Yelp-format `business.json` and `review.json`; return line counts and sizes."""
    _check_sizes(users, items)
    users, items = int(users), int(items)
    business_path, review_path = _prepare(business_path), _prepare(review_path)

    names = [c for _, cats in YELP_FAMILIES for c in cats]
    family_of = [fam for fam, cats in YELP_FAMILIES for _ in cats]
    rng = np.random.default_rng([seed, 0])
    full_index = _spread(len(names), _n_units(items, len(names)))
    world = _build_world(rng, len(full_index), items)
    item_ids = random_ids(rng, items)
    item_cats = _yelp_business_categories(rng, world, full_index, family_of, names)
    primary_name = pa.array([_json_str(names[full_index[u]]) for u in world.item_unit])

    opener_pos = pa.array([_json_str(s) for s in REVIEW_OPENERS_POS])
    opener_neg = pa.array([_json_str(s) for s in REVIEW_OPENERS_NEG])
    mentions = pa.array([_json_str(s) for s in REVIEW_MENTIONS])
    bodies = pa.array([" " + _json_str(s) for s in REVIEW_BODIES])
    closers = pa.array([_json_str(s) for s in REVIEW_CLOSERS])
    star_text = pa.array(["1.0", "2.0", "3.0", "4.0", "5.0"])

    mean_events = float(interactions_per_user) + float(noise_reviews_per_user)
    noise_share = float(noise_reviews_per_user) / mean_events if mean_events > 0 else 0.0
    review_count = np.zeros(items, dtype=np.int64)
    star_sum = np.zeros(items)
    n_lines = 0
    with open(review_path, "wb") as f:
        for chunk, first in enumerate(range(0, users, YELP_USERS_PER_CHUNK)):
            n_users = min(YELP_USERS_PER_CHUNK, users - first)
            crng = np.random.default_rng([seed, 1, chunk])
            lengths = _events_per_user(crng, n_users, mean_events)
            ev = _walk(crng, world, lengths, noise_share)
            times = _event_times(crng, ev, lengths, YELP_START, YELP_END, YELP_WINDOW, 1)
            stars = np.where(ev.noise, crng.choice(5, size=len(ev.item), p=YELP_NOISE_STARS),
                             crng.choice(5, size=len(ev.item), p=YELP_POSITIVE_STARS)) + 1
            review_count += np.bincount(ev.item, minlength=items)
            star_sum += np.bincount(ev.item, weights=stars, minlength=items)
            n = len(ev.item)
            positive = stars >= 4
            opener = pc.if_else(pa.array(positive),
                                opener_pos.take(pa.array(crng.integers(0, len(opener_pos), n))),
                                opener_neg.take(pa.array(crng.integers(0, len(opener_neg), n))))
            text = _join(opener, mentions.take(pa.array(crng.integers(0, len(mentions), n))),
                         primary_name.take(pa.array(ev.item)), ".",
                         bodies.take(pa.array(crng.integers(0, len(bodies), n))),
                         bodies.take(pa.array(crng.integers(0, len(bodies), n))),
                         closers.take(pa.array(crng.integers(0, len(closers), n))))
            votes = [pc.cast(pa.array(crng.geometric(p, size=n) - 1), pa.string()) for p in (0.5, 0.75, 0.65)]
            date = pc.strftime(pa.array(times).cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
            user_ids = random_ids(crng, n_users)
            lines = _join('{"review_id":"', random_ids(crng, n), '","user_id":"', user_ids.take(pa.array(ev.user)),
                          '","business_id":"', item_ids.take(pa.array(ev.item)),
                          '","stars":', star_text.take(pa.array(stars - 1)),
                          ',"useful":', votes[0], ',"funny":', votes[1], ',"cool":', votes[2],
                          ',"text":"', text, '","date":"', date, '"}\n')
            _write_lines(f, lines)
            n_lines += n

    n_null_categories = 0
    with open(business_path, "w", encoding="utf-8", newline="\n") as f:
        for i in range(items):
            metro = METROS[int(rng.integers(len(METROS)))]
            city, state, lat, lon, zip_prefix = metro
            postal = (f"{zip_prefix}{int(rng.integers(0, 100)):02d}" if zip_prefix else
                      f"T{int(rng.integers(5, 7))}{'ABCEGHJKLMNPRSTVXY'[int(rng.integers(18))]} "
                      f"{int(rng.integers(0, 10))}{'ABCEGHJKLMNPRSTVWXYZ'[int(rng.integers(20))]}{int(rng.integers(0, 10))}")
            primary = int(full_index[world.item_unit[i]])
            family = family_of[primary]
            address = "" if rng.random() < 0.03 else f"{int(rng.integers(1, 9999))} {STREETS[int(rng.integers(len(STREETS)))]}"
            if address and rng.random() < 0.1:
                address += f", Ste {int(rng.integers(1, 400))}"
            cats = item_cats[i]
            categories = None if rng.random() < 0.01 else ", ".join(cats)
            n_null_categories += categories is None
            mean_stars = star_sum[i] / review_count[i] if review_count[i] else 3.0
            obj = {
                "business_id": item_ids[i].as_py(),
                "name": f"{NAME_PREFIXES[int(rng.integers(len(NAME_PREFIXES)))]} {names[primary]}",
                "address": address,
                "city": city,
                "state": state,
                "postal_code": postal,
                "latitude": round(lat + float(rng.normal(0, 0.08)), 7),
                "longitude": round(lon + float(rng.normal(0, 0.08)), 7),
                "stars": float(np.clip(np.round(mean_stars * 2) / 2, 1.0, 5.0)),
                "review_count": int(review_count[i]),
                "is_open": int(rng.random() < 0.8),
                "attributes": _yelp_attributes(rng, family in RESTAURANT_FAMILIES),
                "categories": categories,
                "hours": _yelp_hours(rng),
            }
            f.write(_yelp_json(obj) + "\n")

    stats = {"format": "yelp", "users": users, "items": items, "units": world.n_units,
             "review_lines": n_lines, "business_lines": items, "null_categories": n_null_categories,
             "review_bytes": review_path.stat().st_size, "business_bytes": business_path.stat().st_size}
    log.info("synthetic yelp: %s", stats)
    return stats


# --------------------------------------------------------------------------------------------
# KuaiRec

CAPTION_ZH = ["今天天气真好", "太好吃了", "家常做法，简单易学", "感谢快手我要上热门", "喜欢的点个关注",
              "一起来看看吧", "我的日常", "记录美好生活", "这也太可爱了吧", "你们觉得怎么样？"]
CAPTION_EN = ["easy {x} at home", "my favourite {x} so far", "{x}, part 2", "who else loves {x}?",
              "trying {x} for the first time", "{x} tips you need"]
HASHTAGS = ["#感谢快手我要上热门", "#作品推广", "#同城热点", "#快手创作者服务中心", "#热门", "#日常"]
EMOJI = ["\U0001F525", "\u2764\ufe0f", "\U0001F602", "\U0001F44D", "\U0001F622", "\u2728"]
COVER_TEXTS = ["最高级的{x}", "{x} 一天一个", "{x}合集", "看完{x}你就懂了"]


def _csv_field(value: str) -> str:
    """Quote like the real writer: on comma, quote or newline, but NOT on a bare carriage return."""
    s = str(value)
    if any(c in s for c in ',"\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _kuai_items(rng, world: _World, units: list[tuple]) -> tuple[list[str], list[str], list[str]]:
    """Rows of item_categories.csv and kuairec_caption_category.csv, and each video's l3 name."""
    n = len(world.item_unit)
    tag_ids = sorted({u[0] for u in units})
    feat_rows, cap_rows = [], []
    # a few bare-\r captions, and some with quotes and newlines, whatever the size
    n_cr = max(1, round(n * 0.004))
    special = rng.permutation(n)
    cr_items = set(special[:n_cr].tolist())
    quote_items = set(special[n_cr: n_cr + max(1, round(n * 0.03))].tolist())
    newline_items = set(special[n_cr + len(quote_items): n_cr + len(quote_items) + max(1, round(n * 0.03))].tolist())
    for v in range(n):
        l1_id, l1_name, l2_id, l2_name, l3s = units[world.item_unit[v]]
        l3_id, l3_name = l3s[int(rng.integers(len(l3s)))]
        level = rng.random()
        # real shares: all three levels 36 %, two 30 %, one 33 %, none 0.4 %
        known = 3 if level < 0.36 else 2 if level < 0.66 else 1 if level < 0.996 else 0
        if v in cr_items:
            known = max(known, 1)
        topic = l3_name if known == 3 else l2_name if known == 2 else l1_name
        ids = [(l1_id, l1_name), (l2_id, l2_name), (l3_id, l3_name)]
        levels = [(str(i), name) if k < known else ("-124", "UNKNOWN") for k, (i, name) in enumerate(ids)]

        tags = sorted(set(rng.choice(HASHTAGS, size=int(rng.choice(4, p=[0.55, 0.2, 0.15, 0.1])), replace=False)))
        subject = (l3_name if rng.random() < 0.6 else l2_name).lower()
        if v in cr_items:  # the quirk: no comma/quote/newline, so the field stays unquoted
            caption = CAPTION_ZH[int(rng.integers(len(CAPTION_ZH)))] + " " + subject + ["\r", "\r ", "\r！"][v % 3]
            tags = []
        elif rng.random() < 0.13:
            caption, tags = "", []
        else:
            parts = [CAPTION_ZH[int(rng.integers(len(CAPTION_ZH)))],
                     CAPTION_EN[int(rng.integers(len(CAPTION_EN)))].format(x=subject)]
            if rng.random() < 0.4:
                parts.append(EMOJI[int(rng.integers(len(EMOJI)))])
            sep = "，" if rng.random() < 0.5 else ", "
            caption = sep.join(parts) + (" " + " ".join(tags) if tags else "")
            if v in quote_items:
                caption = f'"{subject}" {caption}'
            if v in newline_items:
                caption = caption + "\n" + CAPTION_ZH[int(rng.integers(len(CAPTION_ZH)))]
        cover = ("UNKNOWN" if rng.random() < 0.62
                 else COVER_TEXTS[int(rng.integers(len(COVER_TEXTS)))].format(x=topic.lower()))
        topic_tag = "[" + ",".join(t.lstrip("#") for t in tags) + "]"
        row = [str(v), cover, caption, topic_tag, *[x for pair in levels for x in pair]]
        cap_rows.append(",".join(_csv_field(x) for x in row) + "\n")

        feat = [l1_id] + [int(t) for t in rng.choice(tag_ids, size=int(rng.choice(3, p=[0.83, 0.15, 0.02])))
                          if t != l1_id]
        feat_text = "[" + ", ".join(str(t) for t in dict.fromkeys(feat)) + "]"
        feat_rows.append(f"{v},{_csv_field(feat_text)}\n")
    return feat_rows, cap_rows


def _float_text(values: np.ndarray) -> pa.Array:
    """Shortest round-trip float text, with ".0" on integral values as pandas writes them."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    integral = pc.invert(pc.match_substring_regex(text, r"[.eE]"))
    return pc.if_else(integral, _join(text, ".0"), text)


def synthesize_kuairec(interactions_path, item_categories_path, captions_path, *, users: int, items: int,
                       seed: int = 0, interactions_per_user: float = 60.0) -> dict:
    """Write KuaiRec-format `big_matrix.csv`, `item_categories.csv` and `kuairec_caption_category.csv`."""
    _check_sizes(users, items)
    users, items = int(users), int(items)
    interactions_path, item_categories_path, captions_path = map(
        _prepare, (interactions_path, item_categories_path, captions_path))

    units = []  # (l1 id, l1 name, l2 id, l2 name, [(l3 id, l3 name)]) in ring order
    l2_id, l3_id = 210, 1380
    for l1, l1_name, seconds in KUAI_TAXONOMY:
        for l2_name, thirds in seconds:
            l2_id += 17
            l3 = []
            for t in thirds:
                l3_id += 23
                l3.append((l3_id, t))
            units.append((l1, l1_name, l2_id, l2_name, l3))
    rng = np.random.default_rng([seed, 0])
    chosen = [units[i] for i in _spread(len(units), _n_units(items, len(units)))]
    world = _build_world(rng, len(chosen), items)
    video_ms = np.clip(np.exp(rng.normal(np.log(14000), 0.7, size=items)), 3000, 300000).astype(np.int64)

    feat_rows, cap_rows = _kuai_items(rng, world, chosen)
    with open(item_categories_path, "w", encoding="utf-8", newline="") as f:
        f.write("video_id,feat\n")
        f.writelines(feat_rows)
    with open(captions_path, "w", encoding="utf-8", newline="") as f:
        f.write("video_id,manual_cover_text,caption,topic_tag,first_level_category_id,first_level_category_name,"
                "second_level_category_id,second_level_category_name,third_level_category_id,third_level_category_name\n")
        f.writelines(cap_rows)

    n_lines = n_pos = 0
    with open(interactions_path, "wb") as f:
        f.write(b"user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n")
        for chunk, first in enumerate(range(0, users, KUAI_USERS_PER_CHUNK)):
            n_users = min(KUAI_USERS_PER_CHUNK, users - first)
            crng = np.random.default_rng([seed, 1, chunk])
            lengths = _events_per_user(crng, n_users, float(interactions_per_user))
            ev = _walk(crng, world, lengths, KUAI_NOISE)
            ms = _event_times(crng, ev, lengths, KUAI_START_MS, KUAI_END_MS, KUAI_WINDOW, 1)
            n = len(ev.item)
            # in-interest views: median ratio 2.6 (~67 % >= 2); noise views: median 0.6 (~2 % >= 2)
            target = np.exp(crng.normal(np.where(ev.noise, np.log(0.6), np.log(2.6)), 0.6))
            vid = video_ms[ev.item]
            play = np.maximum(np.round(target * vid).astype(np.int64), 1)
            ratio = play / vid
            n_pos += int((ratio >= 2.0).sum())
            sec, milli = ms // 1000, ms % 1000
            local = pa.array(sec + BEIJING).cast(pa.timestamp("s"))
            milli_text = pc.utf8_lpad(pc.cast(pa.array(milli), pa.string()), 3, "0")
            # shortest repr of sec.milli: trailing zeros dropped, ".0" when whole
            frac = pc.utf8_rtrim(milli_text, "0")
            frac = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "0", frac)
            lines = _join(pc.cast(pa.array(first + ev.user), pa.string()), ",",
                          pc.cast(pa.array(ev.item), pa.string()), ",",
                          pc.cast(pa.array(play), pa.string()), ",", pc.cast(pa.array(vid), pa.string()), ",",
                          pc.strftime(local, format="%Y-%m-%d %H:%M:%S"), ".", milli_text, ",",
                          pc.strftime(local, format="%Y%m%d"), ".0,",
                          pc.cast(pa.array(sec), pa.string()), ".", frac, ",",
                          _float_text(ratio), "\n")
            _write_lines(f, lines)
            n_lines += n

    stats = {"format": "kuairec", "users": users, "items": items, "units": world.n_units,
             "interaction_lines": n_lines, "positive_share": round(n_pos / max(n_lines, 1), 4),
             "caption_lines": items, "item_category_lines": items,
             "bare_cr_captions": sum("\r" in r for r in cap_rows)}
    log.info("synthetic kuairec: %s", stats)
    return stats
