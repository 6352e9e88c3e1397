"""Explanation methods that write results/explanations/{ds}/{m}.parquet."""
