"""Synthetic Yelp Open Dataset dumps: `business.json` and `review.json` in the real format.

Format (checked against slices of the real files): compact JSON lines, real key order, non-ASCII
written raw (UTF-8), "/" escaped as "\\/"; `categories` is ONE ", "-joined string (null for a few
businesses), `attributes` values are Python-literal strings ("True", "u'free'", "'none'",
"{'garage': False, 'lot': True}") or `attributes` is null, `hours` is a dict or null; review
`stars` is a float, `date` "YYYY-MM-DD HH:MM:SS", `text` holds newlines, quotes, apostrophes,
accents and emoji.

Model (see world.py): the interest units are leaf categories in ring order (categories of the
same family, e.g. Asian restaurants, adjacent). A business lists its primary category, 1-4 related
categories drawn from its ring neighbourhood (distance 1-3, nearer ones likelier) and usually its
family name ("Restaurants", "Health & Medical"), in shuffled order, so neighbouring units share
category names. Noise reviews get 1-3 stars; in-interest ones are 88 % >= 4 stars, so the
positive rule must drop the rest. Activity windows: 25-90 % of 2010-2021 per user.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .files import _check_sizes, _join, _prepare, _write_lines, random_ids
from .world import DEFAULT_ITEMS_PER_UNIT, POPULARITY_EXPONENT, _build_world, _event_times, _events_per_user, _n_units, _spread, _walk, _World

log = logging.getLogger(__name__)

YELP_START = 1262304000  # 2010-01-01 00:00:00
YELP_END = 1640995199  # 2021-12-31 23:59:59
YELP_WINDOW = (0.25, 0.90)
YELP_USERS_PER_CHUNK = 4096
YELP_POSITIVE_STARS = np.array([0.02, 0.03, 0.07, 0.33, 0.55])  # P(1..5 stars) of in-interest reviews
YELP_NOISE_STARS = np.array([0.35, 0.30, 0.35, 0.0, 0.0])


# --------------------------------------------------------------------------------------------
# Taxonomy: (family, [leaf categories]) in ring order. "/" names are real Yelp names and
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


def _json_str(s: str) -> str:
    """The inside of a JSON string as the real Yelp dump writes it: raw UTF-8, "/" escaped."""
    return json.dumps(s, ensure_ascii=False)[1:-1].replace("/", "\\/")


def _yelp_json(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")



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
                    interactions_per_user: float = 30.0, noise_reviews_per_user: float = 3.0,
                    items_per_unit: float = DEFAULT_ITEMS_PER_UNIT, popularity_exponent: float = POPULARITY_EXPONENT) -> dict:
    """Write a Yelp-format `business.json` and `review.json`; return line counts and sizes.
    `items_per_unit`: about how many businesses share a primary category (with the taxonomy's 146
    leaf categories as the cap on units)."""
    _check_sizes(users, items)
    users, items = int(users), int(items)
    business_path, review_path = _prepare(business_path), _prepare(review_path)

    names = [c for _, cats in YELP_FAMILIES for c in cats]
    family_of = [fam for fam, cats in YELP_FAMILIES for _ in cats]
    rng = np.random.default_rng([seed, 0])
    full_index = _spread(len(names), _n_units(items, len(names), items_per_unit))
    world = _build_world(rng, len(full_index), items, popularity_exponent)
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
