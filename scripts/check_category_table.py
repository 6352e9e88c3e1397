"""Check that the shipped KuaiRec category translation table covers every name of a real
kuairec_caption_category.csv (run by hand when the dump changes; tests never read real data):

    .venv/bin/python scripts/check_category_table.py /path/to/kuairec_caption_category.csv
"""

import sys

from seller_core.data.category_names import translations
from seller_core.data.kuairec import CAPTION_COLUMNS, _csv_records

path = sys.argv[1]
names = set()
for _, rec in _csv_records(path, CAPTION_COLUMNS):
    row = dict(zip(CAPTION_COLUMNS, rec))
    for level in ("first", "second", "third"):
        name = row[f"{level}_level_category_name"].strip()
        if name not in ("", "UNKNOWN", "-124"):
            names.add(name)
table = set(translations())
print(f"{len(names)} distinct names in {path}; table has {len(table)}")
print("missing from the table:", sorted(names - table) or "none")
print("in the table but not in the file:", sorted(table - names) or "none")
sys.exit(1 if names - table else 0)
