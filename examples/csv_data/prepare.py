"""Write a real table as CSV: the Wisconsin breast-cancer table that ships inside scikit-learn's
wheel (569 rows, 30 features, no download), into $TRAINKIT_DATA/cancer-csv/cancer.csv
(default ~/.trainkit/data), where conf/dataset/cancer.yaml looks for it.

    python prepare.py                      # then: trainkit train +experiment=cancer
"""
import csv
import os
from pathlib import Path

from sklearn.datasets import load_breast_cancer

out = Path(os.environ.get("TRAINKIT_DATA", Path.home() / ".trainkit" / "data")) / "cancer-csv"
out.mkdir(parents=True, exist_ok=True)
table = load_breast_cancer()
with open(out / "cancer.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow([c.replace(" ", "_") for c in table.feature_names] + ["malignant"])
    writer.writerows([*row, 1 - label] for row, label in zip(table.data, table.target))   # 1 = malignant
print(f"wrote {len(table.data)} rows to {out / 'cancer.csv'}")
